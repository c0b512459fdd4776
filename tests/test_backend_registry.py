"""The backend registry (catdsl/backend.py): the installed entry points are read once per
process, whatever the number of functors into semantic categories; `clear_caches` reads them
again, so a backend installed (here: faked) later is found; and elaboration imports a backend
only when it needs to ask it something."""

from __future__ import annotations

import importlib.metadata
import sys
import types

import pytest

from catdsl import backend
from catdsl.diagnostics import DiagnosticError
from catdsl.semantics.elaborate import elaborate
from catdsl.syntax.parse import parse


class FakeEntryPoint:
    def __init__(self, name: str, value: str, group: str):
        self.name, self.value, self.group = name, value, group


class FakeEntryPoints(list):
    def select(self, group: str):
        return [ep for ep in self if ep.group == group]


class Toy:
    """A semantic category that computes the images of objects (as `Param` does)."""

    computes_objects = True


class Plain:
    """A semantic category whose objects are given by the functor (as in `Vect`)."""


@pytest.fixture
def fake_install(monkeypatch):
    """Entry points of `catdsl.backends`: Vect as installed, plus `Toy` from a fake module; each
    read of the installed metadata is counted."""
    reads = []
    installed = FakeEntryPoints([
        FakeEntryPoint("Vect", "backends.symbolic.laws:Vect", "catdsl.backends"),
        FakeEntryPoint("Toy", "fake_toy_backend:Toy", "catdsl.backends"),
        FakeEntryPoint("Plain", "fake_toy_backend:Plain", "catdsl.backends"),
        FakeEntryPoint("other", "x:y", "another.group"),
    ])

    def entry_points(**params):
        reads.append(params)
        return installed

    module = types.ModuleType("fake_toy_backend")
    module.Toy, module.Plain = Toy, Plain
    monkeypatch.setitem(sys.modules, "fake_toy_backend", module)
    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    backend.clear_caches()
    yield reads
    monkeypatch.undo()
    backend.clear_caches()  # the real entry points again, for the tests after this one


def semantic_functors(n: int) -> str:
    parts = []
    for k in range(n):
        parts.append(f"category C{k} {{ objects A, B; f : A -> B }}\n"
                     f"functor V{k} : C{k} -> Vect {{ A |-> R^2; B |-> R^1; f |-> [[1, 2]] }}\n")
    return "".join(parts)


def test_the_registry_is_read_once_for_many_functors(fake_install):
    module = elaborate(parse(semantic_functors(40), "f.cat"), "f.cat")
    assert len(module.functors) == 40
    assert backend.is_semantic("Toy") and not backend.is_semantic("Nope")
    assert backend.entry_points_of("another.group") == {"other": "x:y"}
    assert len(fake_install) == 1


def test_clear_caches_reads_the_installed_backends_again(fake_install):
    assert sorted(backend.registry()) == ["Plain", "Toy", "Vect"]
    assert backend.load("Toy") is Toy
    backend.clear_caches()
    assert sorted(backend.registry()) == ["Plain", "Toy", "Vect"]
    assert len(fake_install) == 2


def test_a_complete_functor_does_not_import_its_backend(fake_install, monkeypatch):
    loaded = []
    real = backend.load
    monkeypatch.setattr(backend, "load", lambda name: loaded.append(name) or real(name))
    elaborate(parse(semantic_functors(3), "f.cat"), "f.cat")
    assert loaded == []


def test_a_backend_that_computes_objects_is_asked_when_objects_are_left_out(fake_install, monkeypatch):
    loaded = []
    real = backend.load
    monkeypatch.setattr(backend, "load", lambda name: loaded.append(name) or real(name))
    text = "category C { objects A, B; f : A -> B }\n"
    module = elaborate(parse(text + "functor T : C -> Toy { f |-> 1 }\n", "f.cat"), "f.cat")
    assert set(module.functors["T"].arrows) == {"f"} and loaded == ["Toy"]
    with pytest.raises(DiagnosticError) as info:
        elaborate(parse(text + "functor V : C -> Plain { f |-> 1 }\n", "f.cat"), "f.cat")
    assert loaded == ["Toy", "Plain"]
    (d,) = info.value.diagnostics
    assert d.code == "E207" and "does not map objects `A`, `B`" in d.message
