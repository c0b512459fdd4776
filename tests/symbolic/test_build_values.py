"""to_sympy: values are built from the AST exactly, and nothing else is a value."""

from fractions import Fraction
from pathlib import Path
import re

import pytest
import sympy
from hypothesis import given, settings, strategies as st

from backends.symbolic.build import Env, to_sympy
from catdsl.backend import BackendError
from catdsl.syntax import ast as A
from cat_values import value

ENV = Env.of_params("a", "b")
a, b = ENV.params["a"], ENV.params["b"]


@pytest.mark.parametrize("text, expected", [
    ("0.5", sympy.Rational(1, 2)),
    ("1e-3", sympy.Rational(1, 1000)),
    ("1/3", sympy.Rational(1, 3)),
    ("-2", sympy.Integer(-2)),
    ("2^10", sympy.Integer(1024)),
    ("a * b - a", a * b - a),
    ("sqrt(4) + sin(0) + cos(pi) + exp(0) + log(e) + tanh(0)", sympy.Integer(3)),
])
def test_numbers_and_arithmetic_are_exact(text, expected):
    assert to_sympy(value(text), ENV) == expected


def test_tuples_and_matrices():
    assert to_sympy(value("(a, 1)"), ENV) == (a, 1)
    assert to_sympy(value("[[1, a], [0.5, 2]]"), ENV) == sympy.Matrix(
        [[1, a], [sympy.Rational(1, 2), 2]])


def test_bound_variables_shadow_params_and_constants():
    env = ENV.bind(a=sympy.Integer(7), e=sympy.Integer(3))
    assert to_sympy(value("a + e"), env) == 10


def test_unknown_name_says_what_is_known():
    node = value("a + zeta")
    with pytest.raises(BackendError) as err:
        to_sympy(node, ENV)
    e = err.value
    assert e.code == "E301" and "`zeta`" in e.message
    assert e.span == node.right.span
    assert "`a`" in e.hints[0] and "`pi`" in e.hints[0]


@pytest.mark.parametrize("text, code", [
    ('__import__("os")', "E302"),      # a call outside the fixed table
    ("tan(a)", "E302"),
    ("sin(a, b)", "E302"),
    ('"text"', "E303"),                # not a value at all
    ("{a, b}", "E303"),
    ("[[1, 2], [3]]", "E305"),         # ragged
    ("[1, 2]", "E305"),                # a flat list is not a matrix
    ("1 / (a - a)", "E310"),
])
def test_what_is_not_a_value(text, code):
    with pytest.raises(BackendError) as err:
        to_sympy(value(text), ENV)
    assert err.value.code == code


def test_no_source_text_reaches_an_evaluator():
    """A `.cat` file must not run code: the backend never calls sympify/eval/exec/lambdify."""
    forbidden = re.compile(r"\b(sympify|parse_expr|eval|exec|lambdify)\(")
    root = Path(__file__).resolve().parents[2] / "backends" / "symbolic"
    for path in root.glob("*.py"):
        assert not forbidden.search(path.read_text()), path.name


decimals = st.fractions(min_value=-1000, max_value=1000, max_denominator=1000).filter(
    lambda q: q.denominator in (1, 2, 4, 5, 8, 10, 20, 25, 50, 100, 125, 250, 500, 1000))


@settings(max_examples=50, deadline=None, database=None)
@given(decimals, st.integers(-5, 5))
def test_decimal_literals_are_exact(q, k):
    """Law: the value of a literal is the rational it denotes (decimal and exponent forms)."""
    digits = f"{abs(q.numerator) * 1000 // q.denominator / 1000:.3f}"
    text = f"{digits}e{k}"
    got = to_sympy(A.Number(text), Env())
    assert Fraction(int(got.p), int(got.q)) == Fraction(digits) * Fraction(10) ** k
