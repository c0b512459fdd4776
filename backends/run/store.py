"""The run store (docs/architecture.md, "The run store"): finished jobs, their tensors, curves and check verdicts.

One directory, by default `.catdsl/` beside the `.cat` file, that needs no server:

    DIR/catdsl.sqlite            jobs, metrics (curves), verdicts; WAL mode
    DIR/tensors/KEY.safetensors  the tensors of job KEY (checkpoints, features)

A job is keyed by a content hash of everything it depends on (`job_key`), so a re-run reuses
every finished job and a killed run resumes. A job is *finished* exactly when its row exists
and its tensor file (if it has one) is there with the recorded size. `put` first makes the
tensor file durable (temporary file in the same directory, fsync, `os.replace`) and only then
writes the row in one transaction, so a crash at any point loses only the unfinished job.
Tensors are never unpickled: they are read with `safetensors.torch.load_file`.

Several processes may open one store at once (SQLite WAL, busy timeout, `BEGIN IMMEDIATE`
for writes); a `Store` object belongs to one thread. torch is imported only by the methods
that touch tensors, so `catdsl runs` lists a store without it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

    from catdsl.laws.verdict import Verdict

DEFAULT_DIR = ".catdsl"
DATABASE = "catdsl.sqlite"
TENSORS = "tensors"
SCHEMA_VERSION = 1
# Part of every job key: changing how keys are formed must never reuse an old job.
KEY_FORMAT = "catdsl-job/1"
BUSY_TIMEOUT_S = 60.0
# A temporary file whose writer cannot be checked (another host) is stray after this long.
STRAY_AFTER_S = 24 * 3600.0

_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")
_TMP_PREFIX = ".tmp."
_LOSS_NAMES = ("loss", "final_loss", "test_loss", "train_loss")
_ACCURACY_NAMES = ("accuracy", "final_accuracy", "test_accuracy", "train_accuracy")

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS jobs (
    key          TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    spec         TEXT NOT NULL,      -- JSON, in the order given
    metrics      TEXT NOT NULL,      -- JSON object of final values
    state_digest TEXT,               -- content hash of the state the job produced
    tensor_bytes INTEGER,            -- size of KEY.safetensors, NULL if no tensors
    created      REAL NOT NULL,      -- unix time the job was recorded
    seconds      REAL                -- how long computing it took
)
""",
    """
CREATE TABLE IF NOT EXISTS metrics (
    job   TEXT NOT NULL,
    name  TEXT NOT NULL,
    step  INTEGER NOT NULL,
    value REAL,
    PRIMARY KEY (job, name, step)
) WITHOUT ROWID
""",
    """
CREATE TABLE IF NOT EXISTS verdicts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    source     TEXT NOT NULL,        -- the .cat file (or other origin) checked
    law        TEXT NOT NULL,
    status     TEXT NOT NULL,
    via        TEXT NOT NULL,
    witness    TEXT,
    samples    INTEGER,
    difference REAL,
    job        TEXT,                 -- the job whose results it judged, if any
    created    REAL NOT NULL
)
""",
)


# ---------------------------------------------------------------------------------------------
# Keys


def canonical_json(value: Any) -> str:
    """The one JSON text of `value`: sorted keys, no spaces, finite numbers, str keys only.

    Tuples print as lists. Anything that is not plain JSON data is a TypeError, so that a key
    never silently depends on a `repr`.
    """
    _check_json(value, "inputs")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def _check_json(value: Any, where: str) -> None:
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value} has no canonical JSON form")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for k, item in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: key {k!r} is not a string")
            _check_json(item, f"{where}.{k}")
        return
    raise TypeError(f"{where}: {type(value).__name__} is not JSON data")


def job_key(kind: str, inputs: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of (key format, kind, inputs).

    `inputs` holds everything the job's result depends on: data spec, model spec, optimizer
    spec, the upstream state hash and the code version string.
    """
    payload = canonical_json({"format": KEY_FORMAT, "kind": kind, "inputs": dict(inputs)})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def tensor_digest(tensors: Mapping[str, Tensor]) -> str:
    """sha256 over (name, dtype, shape, bytes) of each tensor in name order: a state's hash.

    Used as the upstream state hash in downstream job keys; equal exactly when the states are
    equal bit for bit.
    """
    import torch

    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Values read back


@dataclass(frozen=True)
class StoredJob:
    """A finished job: what it was (kind, spec), what it measured, and when and how long."""

    key: str
    kind: str
    spec: dict[str, Any]
    metrics: dict[str, Any]
    state_digest: str | None
    has_tensors: bool
    created: float
    seconds: float | None


@dataclass(frozen=True)
class RunRow:
    """One line of `catdsl runs`: a finished job, its spec in short and its final numbers."""

    key: str
    kind: str
    summary: str
    loss: float | None
    accuracy: float | None
    created: float
    seconds: float | None


@dataclass(frozen=True)
class StoredVerdict:
    """A check result as recorded: which law of which source, and its verdict."""

    source: str
    law: str
    status: str
    via: str
    witness: str | None
    samples: int | None
    difference: float | None
    job: str | None
    created: float


# ---------------------------------------------------------------------------------------------
# The store


class Store:
    """A run store directory; open with `Store.open(dir)` or `Store.beside(cat_file)`."""

    def __init__(self, root: Path, db: sqlite3.Connection) -> None:
        self.root = root
        self._db = db

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Store:
        """Open (creating if needed) the store in directory `path`; remove stray temp files."""
        root = Path(path)
        (root / TENSORS).mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(root / DATABASE, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            db.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL survives a killed process; power loss may drop the last rows,
            # which only means recomputing those jobs (their files were fsynced first).
            db.execute("PRAGMA synchronous = NORMAL")
            store = cls(root, db)
            with store._write():
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise RuntimeError(f"{root}: store format {version} is newer than this "
                                       f"catdsl ({SCHEMA_VERSION}); upgrade catdsl")
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            db.close()
            raise
        store._remove_stray_temp_files()
        return store

    @classmethod
    def beside(cls, cat_file: str | os.PathLike[str]) -> Store:
        """Open the default store of a `.cat` file: `.catdsl/` in the same directory."""
        return cls.open(Path(cat_file).resolve().parent / DEFAULT_DIR)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs ---------------------------------------------------------------------------------

    def has(self, key: str) -> bool:
        """Whether job `key` is finished: its row exists and its tensor file is complete."""
        row = self._db.execute("SELECT tensor_bytes FROM jobs WHERE key = ?",
                               (_valid(key),)).fetchone()
        return row is not None and self._file_complete(key, row[0])

    def put(self, key: str, kind: str, spec: Mapping[str, Any],
            tensors: Mapping[str, Tensor] | None, metrics: Mapping[str, Any],
            state_digest: str | None, *, seconds: float | None = None) -> StoredJob:
        """Record finished job `key`: tensors made durable first, then the row, atomically.

        `spec` must be JSON data (it is what `runs` summarizes); `metrics` are final values
        (`loss`, `accuracy`, … as numbers). Putting a key again replaces the job.
        """
        _valid(key)
        _check_json(spec, "spec")
        spec_text = json.dumps(dict(spec), ensure_ascii=False, allow_nan=False)  # keeps order
        metrics_text = json.dumps(dict(metrics), sort_keys=True)
        size = None
        if tensors is not None:
            size = self._write_tensors(key, kind, tensors)
        created = time.time()
        with self._write():
            self._db.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, kind, spec_text, metrics_text, state_digest, size, created, seconds))
        return StoredJob(key, kind, json.loads(spec_text), json.loads(metrics_text),
                         state_digest, size is not None, created, seconds)

    def get(self, key: str) -> StoredJob:
        """The finished job `key`; KeyError when it is absent or unfinished."""
        row = self._db.execute(
            "SELECT kind, spec, metrics, state_digest, tensor_bytes, created, seconds "
            "FROM jobs WHERE key = ?", (_valid(key),)).fetchone()
        if row is None or not self._file_complete(key, row[4]):
            raise KeyError(f"no finished job {key}")
        kind, spec, metrics, digest, size, created, seconds = row
        return StoredJob(key, kind, json.loads(spec), json.loads(metrics), digest,
                         size is not None, created, seconds)

    def tensors(self, key: str) -> dict[str, Tensor]:
        """The tensors of finished job `key` (safetensors, never pickle); {} if it has none."""
        job = self.get(key)
        if not job.has_tensors:
            return {}
        from safetensors.torch import load_file

        return load_file(self._tensor_path(key))

    def runs(self) -> list[RunRow]:
        """Every finished job, oldest first, for `catdsl runs`."""
        rows = self._db.execute(
            "SELECT key, kind, spec, metrics, tensor_bytes, created, seconds FROM jobs "
            "ORDER BY created, key").fetchall()
        out = []
        for key, kind, spec, metrics, size, created, seconds in rows:
            if not self._file_complete(key, size):
                continue
            values = json.loads(metrics)
            out.append(RunRow(key, kind, _summary(json.loads(spec)),
                              _first_number(values, _LOSS_NAMES),
                              _first_number(values, _ACCURACY_NAMES), created, seconds))
        return out

    # -- curves -------------------------------------------------------------------------------

    def record_metric(self, key: str, step: int, name: str, value: float) -> None:
        """Record one point of a curve (e.g. training loss at a step) of job `key`.

        Written while the job runs, so the job need not be finished; the same (key, name,
        step) recorded again replaces the value (a resumed job re-logs its steps).
        """
        with self._write():
            self._db.execute("INSERT OR REPLACE INTO metrics VALUES (?, ?, ?, ?)",
                             (_valid(key), name, int(step), float(value)))

    def curve(self, key: str, name: str) -> list[tuple[int, float]]:
        """The recorded points (step, value) of curve `name` of job `key`, by step."""
        return [(s, v) for s, v in self._db.execute(
            "SELECT step, value FROM metrics WHERE job = ? AND name = ? ORDER BY step",
            (_valid(key), name))]

    # -- verdicts -----------------------------------------------------------------------------

    def put_verdict(self, source: str, law: str, verdict: Verdict, *,
                    job: str | None = None) -> None:
        """Record the verdict a check gave law `law` of `source` (optionally about a job)."""
        with self._write():
            self._db.execute(
                "INSERT INTO verdicts (source, law, status, via, witness, samples, difference,"
                " job, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (source, law, verdict.status, verdict.via, verdict.witness, verdict.samples,
                 verdict.difference, job, time.time()))

    def verdicts(self, source: str | None = None) -> list[StoredVerdict]:
        """Recorded verdicts in the order they were given, optionally of one source only."""
        query = ("SELECT source, law, status, via, witness, samples, difference, job, created"
                 " FROM verdicts")
        args: tuple[Any, ...] = ()
        if source is not None:
            query += " WHERE source = ?"
            args = (source,)
        return [StoredVerdict(*row) for row in self._db.execute(query + " ORDER BY id", args)]

    # -- internals ----------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front: no deadlock upgrading a read lock.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _tensor_path(self, key: str) -> Path:
        return self.root / TENSORS / f"{key}.safetensors"

    def _file_complete(self, key: str, size: int | None) -> bool:
        if size is None:
            return True
        try:
            return self._tensor_path(key).stat().st_size == size
        except FileNotFoundError:
            return False

    def _write_tensors(self, key: str, kind: str, tensors: Mapping[str, Tensor]) -> int:
        """Write KEY.safetensors durably and atomically; return its size in bytes."""
        from safetensors.torch import save_file

        final = self._tensor_path(key)
        tmp = final.with_name(
            f"{_TMP_PREFIX}{_host()}.{os.getpid()}.{uuid.uuid4().hex[:12]}.{key}.safetensors")
        try:
            save_file(_saveable(tensors), tmp, metadata={"catdsl.key": key, "catdsl.kind": kind})
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            size = tmp.stat().st_size
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)
        return size

    def _remove_stray_temp_files(self) -> None:
        """Remove temp files whose writer died (same host) or that are a day old (any host)."""
        now = time.time()
        for tmp in (self.root / TENSORS).glob(_TMP_PREFIX + "*"):
            parts = tmp.name[len(_TMP_PREFIX):].split(".")
            try:
                host, pid = parts[0], int(parts[1])
                age = now - tmp.stat().st_mtime
            except (IndexError, ValueError, FileNotFoundError):
                continue
            if (host == _host() and not _alive(pid)) or age > STRAY_AFTER_S:
                tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Helpers


def _valid(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"job key {key!r} is not 1-128 characters of [A-Za-z0-9_-]")
    return key


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _saveable(tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Detached, contiguous CPU tensors, cloning any that share storage (safetensors refuses)."""
    out: dict[str, Tensor] = {}
    seen: set[int] = set()
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        storage = t.untyped_storage().data_ptr()
        if storage in seen:
            t = t.clone()
        else:
            seen.add(storage)
        out[name] = t
    return out


def _first_number(values: Mapping[str, Any], names: tuple[str, ...]) -> float | None:
    for name in names:
        v = values.get(name)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def _summary(spec: Mapping[str, Any], width: int = 60) -> str:
    """A spec in one short line: its `summary` entry, else its scalar entries as k=v."""
    if isinstance(spec.get("summary"), str):
        text = spec["summary"]
    else:
        text = " ".join(f"{k}={v}" for k, v in spec.items()
                        if isinstance(v, (str, int, float, bool)) or v is None)
    return text if len(text) <= width else text[: width - 1] + "…"
