"""The learning declarations report every error in one run, without a cascade, with the name
meant (did-you-mean) and a caret under the offending layer or keyword (issue 12, item 11)."""

from __future__ import annotations

import re

from catdsl.cli import main

FIVE_MISTAKES = """\
data digits = dataset("digits", test = 0.25, seed = 0)
model mlp   = Linear(64, 32) >> Relu >> Linear(32, 10)
model wide  = Linear(64, 32) >> ReLU >> Linear(32, 10, bais = true)
model fits  = Linear(64, 32) >> ReLU >> Linear(16, 10)

category Training {
  objects Init, Trained
  full : Init -> Trained
}

functor Run : Training -> Param(mlp, digits, loss = cross_entropy) {
  Init |-> init(seed = 0)
  full |-> sgd(learning_rate = 0.1, epochs = 2, batch = 32, seed = 0)
}

functor Wide : Training -> Param(wide, digits, loss = crossentropy) {
  Init |-> init(seed = 0)
  full |-> adam(lr = 0.1, epoch = 2, batch = 32, seed = 0)
}

functor Fits : Training -> Param(fits, digits) {
  Init |-> init(seed = 0)
  full |-> sgd(lr = 0.1, epochs = 1)
}

sweep S = Run.full over seed in 0..1
"""


def _check(tmp_path, text: str, capsys) -> tuple[int, str]:
    path = tmp_path / "file.cat"
    path.write_text(text, encoding="utf-8")
    code = main(["check", str(path), "--store", str(tmp_path / "store")])
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    return code, err


def _headers(err: str) -> list[str]:
    return re.findall(r"^\S+:(\d+):(\d+): error\[(E\d+)\]: (.*)$", err, re.M)


def test_every_mistake_is_reported_in_one_run_without_a_cascade(tmp_path, capsys) -> None:
    code, err = _check(tmp_path, FIVE_MISTAKES, capsys)
    assert code == 2
    found = _headers(err)
    messages = [m for *_, m in found]
    assert len(found) == 6, err
    assert any("unknown layer 'Relu'" in m for m in messages)
    assert any("`bais`" in m for m in messages)
    assert any("`learning_rate`" in m for m in messages)
    assert any("`epoch`" in m for m in messages)
    assert any("unknown loss `crossentropy`" in m for m in messages)
    assert any("does not fit" in m for m in messages)
    # no cascade: an invalid model is not then undeclared, nor a sweep over its functor an error
    assert "not a declared model" not in err
    assert "sweep" not in err
    assert err.rstrip().endswith("6 errors")


def test_did_you_mean_for_layers_keywords_and_hyperparameters(tmp_path, capsys) -> None:
    _, err = _check(tmp_path, FIVE_MISTAKES, capsys)
    assert "hint: did you mean ReLU?" in err
    assert "hint: did you mean `bias`?" in err
    assert "hint: did you mean `lr`?" in err  # a synonym, not a spelling: learning_rate -> lr
    assert "hint: did you mean `epochs`?" in err
    assert "hint: did you mean `cross_entropy`?" in err


def _caret_under(err: str, line_no: int) -> str:
    """The text the carets of the diagnostic at `line_no` underline."""
    lines = err.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"\s*{line_no} \| ", line):
            src, carets = line, lines[i + 1]
            start = carets.index("^")
            return src[start:start + carets.count("^")]
    raise AssertionError(f"no source line {line_no} in\n{err}")


def test_the_caret_sits_under_the_offending_layer_not_the_model(tmp_path, capsys) -> None:
    _, err = _check(tmp_path, FIVE_MISTAKES, capsys)
    assert _caret_under(err, 2) == "Relu"
    assert _caret_under(err, 3) == "bais = true"
    assert _caret_under(err, 4) == "Linear(16, 10)"  # the layer that does not fit, not the model
    assert _caret_under(err, 13) == "learning_rate = 0.1"


def test_a_reference_to_an_undeclared_model_names_the_one_meant(tmp_path, capsys) -> None:
    text = FIVE_MISTAKES.replace("Param(fits, digits)", "Param(fit, digits)")
    _, err = _check(tmp_path, text, capsys)
    assert "`fit` is not a declared model" in err and "did you mean `fits`?" in err


def test_a_misspelt_keyword_is_named(tmp_path, capsys) -> None:
    code, err = _check(tmp_path, "category C {\n  objets A, B\n  f : A -> B\n}\n", capsys)
    assert code == 2
    assert "hint: `objets` is not a keyword; did you mean `objects`?" in err
    code, err = _check(tmp_path, "functr F : C -> C {\n}\n", capsys)
    assert "did you mean `functor`?" in err


def test_a_number_of_thousands_of_digits_in_a_layer_is_a_diagnostic(tmp_path, capsys) -> None:
    """Found by `make fuzz`: `Linear(64, 99…9)` (5,000 digits) was an internal error (exit 3)."""
    huge = "9" * 5000
    text = FIVE_MISTAKES.replace("Linear(16, 10)", f"Linear(16, {huge})").replace("seed = 0)\n", f"seed = {huge})\n", 1)
    code, err = _check(tmp_path, text, capsys)
    assert code == 2
    assert "a number of 5,000 digits is too large" in err


def test_a_data_option_a_loader_cannot_use_is_a_diagnostic(tmp_path, capsys) -> None:
    """Found by `make fuzz`: `dataset("digits", seed = ".")`, and later `seed = 1e400` (infinity),
    were internal errors (exit 3)."""
    for seed in ('"."', "1e400", "-1", "2.5"):
        text = FIVE_MISTAKES.replace('seed = 0)\n', f'seed = {seed})\n', 1)
        code, err = _check(tmp_path, text, capsys)
        assert code == 2, seed
        assert "error[E403]" in err and "seed must be a whole number" in err, seed
