"""`Dom` (docs/language.md §8.11): data sets as objects, domain maps as morphisms; identities
and composites by definition, typing and equations decided on the transformed inputs."""

from __future__ import annotations

import json

from checking import command_json

DOM = """
data digits = dataset("digits", limit = 100)
data tilted = dataset("digits", limit = 100, transform = rotate(degrees = 10))
data turned = dataset("digits", limit = 100, transform = rotate(degrees = 30))
data nudged = dataset("digits", limit = 100, transform = shift(pixels = 1))
data moved  = dataset("digits", limit = 100, transform = shift(pixels = 2))

category Shifts {
  objects X, W, Y, V, Z
  f : X -> Y
  a : X -> W
  b : W -> Y
  c : X -> X
  s : X -> Z
  t : X -> V
  u : V -> Z
  eq turn : b . a = f
  eq slide : u . t = s
}

functor D : Shifts -> Dom {
  X |-> digits; W |-> tilted; Y |-> turned; V |-> nudged; Z |-> moved
  f |-> rotate(degrees = 30)
  a |-> rotate(degrees = 10)
  b |-> rotate(degrees = 20)
  c |-> adapter(kind = linear)
  s |-> shift(pixels = 2)
  t |-> shift(pixels = 1)
  u |-> shift(pixels = 1)
}
"""


def _check(tmp_path, capsys, text, *extra):
    return command_json(tmp_path, capsys, text, *extra, command="check", name="d.cat")


def test_fixed_maps_compose_exactly_or_within_interpolation(tmp_path, capsys):
    code, report, err = _check(tmp_path, capsys, DOM)
    v = {o["name"]: o["verdict"] for o in report["obligations"]}
    assert v["D.map_id[X]"].startswith("proved") and v["D.map_comp[t, u]"].startswith("proved")
    # shifts compose exactly; the maps carry their domain onto their codomain exactly
    assert v["D.respects[slide]"].startswith("proved") and v["D.maps[s]"].startswith("proved")
    assert v["D.maps[f]"].startswith("proved") and v["D.maps[u]"].startswith("proved")
    # rotate 10 then 20 is rotate 30 only up to the bilinear resampling
    assert v["D.respects[turn]"].startswith("refuted") and v["D.maps[b]"].startswith("refuted")
    assert v["D.maps[c]"].startswith("unknown")  # a learned map is a transfer's to decide
    code, report, err = _check(tmp_path, capsys, DOM + "check D.respects with tol = 1\n")
    (turn,) = [o for o in report["obligations"] if o["name"] == "D.respects[turn]"]
    assert turn["verdict"].startswith("passed"), turn


def test_bad_domain_maps_are_e404_at_the_place(tmp_path, capsys):
    text = DOM.replace("f |-> rotate(degrees = 30)", "f |-> blur(radius = 2)").replace("Z |-> moved", "Z |-> nowhere")
    code, report, _ = _check(tmp_path, capsys, text)
    said = json.dumps(report)
    assert code == 2 and "unknown transform `blur`" in said and "not a declared data set" in said and "E404" in said
    code, report, _ = _check(tmp_path, capsys, DOM.replace("c |-> adapter(kind = linear)", "c |-> adapter(kind = conv)"))
    assert code == 2 and "unknown adapter kind `conv`" in json.dumps(report)
