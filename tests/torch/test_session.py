"""`catdsl run --executor NAME` reaches the one executor factory; an unknown name is a clear error."""

from __future__ import annotations

from catdsl.cli import main

PROGRAM = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 100)
model mlp = Linear(64, 10)

category Training {
  objects init, trained
  fit : init -> trained
}

functor Run : Training -> Param(mlp, digits) {
  init |-> init(seed = 0)
  fit |-> sgd(lr = 0.1, batch = 32, epochs = 1, seed = 0)
}
"""


def test_the_executor_flag_picks_the_executor(tmp_path, capsys):
    path, store = tmp_path / "e.cat", str(tmp_path / "store")
    path.write_text(PROGRAM)
    assert main(["run", "--store", store, "--executor", "local", str(path)]) == 0
    assert "2 job(s) ran, 0 reused" in capsys.readouterr().out
    assert main(["run", "--store", store, "--executor", "spark", str(path)]) == 2
    out, err = capsys.readouterr()
    assert "unknown executor 'spark'; known: local, process, ray" in err and "internal error" not in err and out == ""
