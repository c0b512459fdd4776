"""A damaged run store: every tensor file is verified by its sha256 when read, a damaged one is
reported (naming the job), set aside and recomputed; a database SQLite cannot read is diagnostic
E902 naming the file, never an internal error; nothing stored is deleted."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import torch

from backends.run.store import DATABASE, StoreError, Store, job_key
from catdsl.backend import BackendError
from catdsl.cli import main
from catdsl.diagnostics import DiagnosticError

PROGRAM = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 200)
model mlp = Linear(64, 8) >> ReLU >> Linear(8, 10)

category Training {
  objects init, trained
  fit : init -> trained
}

functor Run : Training -> Param(mlp, digits, loss = cross_entropy) {
  init |-> init(seed = 0)
  fit |-> sgd(lr = 0.1, batch = 32, epochs = 1, seed = 0)
}
"""


def flip_a_byte(path: Path, from_end: int = 5) -> None:
    """Change one byte in place: same size, different content (a bit rot, a bad sector)."""
    data = bytearray(path.read_bytes())
    data[-from_end] ^= 0xFF
    path.write_bytes(bytes(data))


def put_one(store: Store, i: int = 0) -> str:
    key = job_key("train", {"i": i})
    store.put(key, "train", {"label": f"Job{i}", "i": i}, {"w": torch.arange(64, dtype=torch.float32) + i},
              {"loss": 1.0}, None)
    return key


def test_a_damaged_tensor_file_is_reported_set_aside_and_not_finished(tmp_path):
    with Store.open(tmp_path) as store:
        key = put_one(store)
    path = tmp_path / "tensors" / f"{key}.safetensors"
    flip_a_byte(path)
    with Store.open(tmp_path) as store:
        told = []
        store.warn = told.append
        assert not store.has(key)
        assert len(told) == 1 and "`Job0`" in told[0] and "damaged" in told[0] and key[:12] in told[0]
        assert store.warnings == told
        assert not path.exists() and (path.parent / f"{key}.safetensors.damaged").exists()  # kept, aside
        with pytest.raises(KeyError):
            store.get(key)
        put_one(store)  # recomputed: finished again, and verified
        assert store.has(key) and torch.equal(store.tensors(key)["w"], torch.arange(64, dtype=torch.float32))


def test_reading_a_damaged_tensor_file_is_e902_not_a_wrong_value(tmp_path):
    with Store.open(tmp_path) as store:
        key = put_one(store)
        flip_a_byte(tmp_path / "tensors" / f"{key}.safetensors")
        with pytest.raises(StoreError) as caught:
            store.tensors(key)
    (d,) = caught.value.diagnostics
    assert d.code == "E902" and "Job0" in d.message and f"{key}.safetensors" in d.message
    assert isinstance(caught.value, DiagnosticError) and isinstance(caught.value, BackendError)


def test_a_damaged_safetensors_header_is_reported_and_not_finished(tmp_path):
    with Store.open(tmp_path) as store:
        key = put_one(store)
    path = tmp_path / "tensors" / f"{key}.safetensors"
    flip_a_byte(path, from_end=len(path.read_bytes()) - 12)  # inside the JSON header
    with Store.open(tmp_path) as store:
        store.warn = lambda message: None
        assert not store.has(key) and len(store.warnings) == 1


def test_a_damaged_database_is_e902_naming_the_file_and_is_left_as_it_is(tmp_path):
    with Store.open(tmp_path) as store:
        put_one(store)
    db = tmp_path / DATABASE
    (tmp_path / f"{DATABASE}-wal").unlink(missing_ok=True)
    (tmp_path / f"{DATABASE}-shm").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database " * 200)
    before = db.read_bytes()
    with pytest.raises(StoreError) as caught:
        Store.open(tmp_path)
    (d,) = caught.value.diagnostics
    assert d.code == "E902" and str(db) in d.message and "--store" in d.hints[0]
    assert db.read_bytes() == before and len(list((tmp_path / "tensors").iterdir())) == 1


def test_a_store_of_format_1_is_read_and_its_rows_kept(tmp_path):
    """A store written before sha256s were recorded: its jobs stay finished (header checked)."""
    with Store.open(tmp_path) as store:
        key = put_one(store)
    db = sqlite3.connect(tmp_path / DATABASE)
    db.execute("ALTER TABLE jobs DROP COLUMN tensor_sha256")
    db.execute("DROP TABLE sources")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with Store.open(tmp_path) as store:
        assert store.has(key) and store.get(key).tensor_sha256 is None
        assert torch.equal(store.tensors(key)["w"], torch.arange(64, dtype=torch.float32))


def test_catdsl_run_recomputes_a_damaged_job_and_says_which(tmp_path, capsys):
    path = tmp_path / "t.cat"
    path.write_text(PROGRAM)
    store = tmp_path / "store"
    assert main(["run", "--format", "json", "--store", str(store), str(path)]) == 0
    first = json.loads(capsys.readouterr().out)
    trained = next(j for j in first["jobs"] if j["kind"] == "train")
    flip_a_byte(store / "tensors" / f"{trained['key']}.safetensors")
    assert main(["run", "--format", "json", "--store", str(store), str(path)]) == 0
    out, err = capsys.readouterr()
    again = json.loads(out)
    assert "warning:" in err and "`Run.fit after Run.init`" in err and "recomputed" in err
    assert again["counts"] == {"ran": 1, "reused": 1}
    assert [j["digest"] for j in again["jobs"]] == [j["digest"] for j in first["jobs"]]  # the true result


def test_catdsl_with_a_damaged_database_exits_2_with_e902(tmp_path, capsys):
    path = tmp_path / "t.cat"
    path.write_text(PROGRAM)
    store = tmp_path / "store"
    store.mkdir()
    (store / DATABASE).write_bytes(b"\x00garbage" * 512)
    for argv in (["run", "--store", str(store), str(path)], ["runs", "--store", str(store)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "error[E902]" in err and str(store / DATABASE) in err and "internal error" not in err
    # check: the laws that need the store get an `error` verdict naming it, not an internal error
    laws = tmp_path / "training.cat"  # its resume law needs the store
    laws.write_text((Path(__file__).resolve().parents[2] / "examples" / "training.cat").read_text())
    assert main(["check", "--format", "json", "--store", str(store), str(laws)]) == 1
    out, err = capsys.readouterr()
    assert "internal error" not in err and f"{store / DATABASE}` cannot be read" in out
