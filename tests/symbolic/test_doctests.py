"""The "Axioms, as running examples" blocks of the symbolic backend's modules run."""

import doctest
import importlib

import pytest

MODULES = ["vect", "generic", "finset", "smooth", "solve"]


@pytest.mark.parametrize("name", MODULES)
def test_module_examples(name):
    module = importlib.import_module(f"backends.symbolic.{name}")
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
