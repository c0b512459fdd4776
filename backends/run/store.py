"""The run store (docs/architecture.md, "The run store"): finished jobs, their tensors, curves and check verdicts.

One directory, by default `.catdsl/` beside the `.cat` file, that needs no server:

    DIR/catdsl.sqlite            jobs, metrics (curves), verdicts; WAL mode
    DIR/tensors/KEY.safetensors  the tensors of job KEY (checkpoints, features)

    DIR/locks/KEY.lock           held (flock) by the process computing job KEY
    DIR/partial/KEY.safetensors  progress of running job KEY (its last epoch), not a result
                                 (`put_partial`: the one file a worker may write)

A job is keyed by a content hash of everything it depends on (`job_key`), so a re-run reuses
every finished job and a killed run resumes. A job is *finished* exactly when its row exists
and its tensor file (if it has one) is there with the recorded size and sha256. `put` first
makes the tensor file durable (temporary file in the same directory, fsync, `os.replace`) and
only then writes the row in one transaction, so a crash at any point loses only the unfinished
job. Tensors are never unpickled: they are read with `safetensors.torch.load`.

What is read is verified: `has` and `tensors` check the file's sha256 against the row, so a
damaged file (same size, bytes changed) is never read as a result. `has` reports it (a warning
naming the job), moves it aside (`KEY.safetensors.damaged`: nothing stored is deleted) and
answers False, so the executor recomputes the job; `tensors` raises `StoreError`. A database
SQLite cannot read is a `StoreError` too: a diagnostic (E902) naming the file and what to do.

Several processes may open one store at once (SQLite WAL, busy timeout, `BEGIN IMMEDIATE`
for writes); `lock(keys)` makes two of them compute a job once, not twice. An executor's workers
open it with `Store.open_readonly`: they read their jobs' dependencies and never write (their
driver stores what they return), and a write through such a store is an error. A `Store` object
belongs to one thread. torch is imported only by the methods that touch tensors, so
`catdsl runs` lists a store without it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import socket
import sqlite3
import struct
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catdsl.backend import BackendError
from catdsl.diagnostics import Diagnostic, DiagnosticError
from catdsl.span import Span

if TYPE_CHECKING:
    from torch import Tensor

    from catdsl.laws.verdict import Verdict

DEFAULT_DIR = ".catdsl"
DATABASE = "catdsl.sqlite"
TENSORS = "tensors"
LOCKS = "locks"
PARTIAL = "partial"  # partial records of running jobs (`Store.put_partial`)
DAMAGED_SUFFIX = ".damaged"
# 2: jobs.tensor_sha256 (what `has`/`tensors` verify) and the sources table (`runs --file`)
SCHEMA_VERSION = 2
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
    seconds      REAL,               -- how long computing it took
    tensor_sha256 TEXT               -- sha256 of KEY.safetensors (NULL: no tensors, or a v1 row)
)
""",
    """
CREATE TABLE IF NOT EXISTS sources (
    job    TEXT NOT NULL,
    source TEXT NOT NULL,             -- absolute path of a .cat file whose plan has the job
    PRIMARY KEY (job, source)
) WITHOUT ROWID
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

# The hyperparameters `catdsl runs` shows: found in a job's spec or one level down (`optimizer`).
HYPERPARAMETERS = ("lr", "epochs", "seed")


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
    tensor_sha256: str | None = None  # of its tensor file; None: no tensors, or recorded unverified (v1)

    @property
    def label(self) -> str:
        """What the file calls the job (its spec's `label`), else its short key."""
        label = self.spec.get("label")
        return label if isinstance(label, str) else self.key[:12]


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
    label: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # HYPERPARAMETERS found in its spec
    sources: tuple[str, ...] = ()  # the .cat files whose runs used it
    metrics: dict[str, Any] = field(default_factory=dict)


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


class StoreError(DiagnosticError, BackendError):
    """A run store that cannot be read as it is: diagnostic E902, naming the file and what to do.

    A DiagnosticError for the commands (exit 2) and a BackendError for `catdsl check`, where the
    law that needed the store gets an `error` verdict; never an internal error."""

    def __init__(self, path: str | os.PathLike[str], message: str, hint: str):
        span = Span(str(path), 1, 1, 1, 1)
        Exception.__init__(self, message)
        self.diagnostics = (Diagnostic("E902", message, span, hints=(hint,)),)
        self.code, self.message, self.span, self.hints = "E902", message, span, (hint,)
        self.path = Path(path)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _guarded(method):
    """SQLite's errors (a damaged or foreign file, a lock held too long) as a StoreError."""

    @functools.wraps(method)
    def guarded(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as e:
            raise _unreadable(self.root, e) from None

    return guarded


def _unreadable(root: Path, e: sqlite3.DatabaseError) -> StoreError:
    db = root / DATABASE
    text = str(e)
    if "locked" in text or "busy" in text:
        return StoreError(db, f"the run store database `{db}` stayed busy for {BUSY_TIMEOUT_S:.0f} s ({text})",
                          "another catdsl process is writing it: wait for it, or give this run another "
                          "store with --store DIR")
    return StoreError(db, f"the run store database `{db}` cannot be read: {text}",
                      f"move `{db}` (and `{DATABASE}-wal`, `{DATABASE}-shm` beside it) aside to start a new "
                      f"store there (the tensor files under `{root / TENSORS}` stay; their jobs are recomputed), "
                      "or give another store with --store DIR")


# ---------------------------------------------------------------------------------------------
# The store


class Store:
    """A run store directory; open with `Store.open(dir)` or `Store.beside(cat_file)`.

    `warn(message)` is told of each damaged file found (default: a line on stderr); every such
    message is also kept in `warnings`."""

    def __init__(self, root: Path, db: sqlite3.Connection) -> None:
        self.root = root
        self._db = db
        self.warn: Callable[[str], None] = _warn
        self.warnings: list[str] = []
        # key -> (size, mtime, inode, sha256) of a tensor file whose sha256 was checked
        self._verified: dict[str, tuple[int, int, int, str | None]] = {}
        self.readonly = False

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Store:
        """Open (creating if needed) the store in directory `path`; remove stray temp files.

        StoreError (E902) when the directory cannot be made or its database cannot be read."""
        root = Path(path)
        try:
            (root / TENSORS).mkdir(parents=True, exist_ok=True)
            (root / LOCKS).mkdir(exist_ok=True)
        except OSError as e:
            raise StoreError(root, f"cannot make the run store `{root}`: {e.strerror or e}",
                             "give a directory this user can write with --store DIR") from None
        try:
            db = sqlite3.connect(root / DATABASE, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.DatabaseError as e:
            raise _unreadable(root, e) from None
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
                    raise StoreError(root / DATABASE, f"the run store `{root}` has format {version}, newer "
                                     f"than this catdsl's ({SCHEMA_VERSION})",
                                     "upgrade catdsl, or give another store with --store DIR")
                for statement in _SCHEMA:
                    db.execute(statement)
                columns = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
                if "tensor_sha256" not in columns:  # a version 1 store: its rows stay, unverified
                    db.execute("ALTER TABLE jobs ADD COLUMN tensor_sha256 TEXT")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            db.close()
            raise _unreadable(root, e) from None
        except BaseException:
            db.close()
            raise
        store._remove_stray_temp_files()
        return store

    @classmethod
    def open_readonly(cls, path: str | os.PathLike[str]) -> Store:
        """Open the existing store in `path` for reading only (an executor's worker): nothing is
        created, moved or removed, and `put` and the other writes raise StoreError."""
        root = Path(path)
        db_path = root / DATABASE
        if not db_path.is_file():
            raise StoreError(db_path, f"the run store `{root}` does not exist",
                             "the driver opens (and creates) the store before its workers read it")
        try:
            db = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S,
                                 isolation_level=None)
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        except sqlite3.DatabaseError as e:
            raise _unreadable(root, e) from None
        store = cls(root, db)
        store.readonly = True
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

    @_guarded
    def has(self, key: str) -> bool:
        """Whether job `key` is finished: its row exists and its tensor file is complete and intact.

        A tensor file whose sha256 (or, for a row recorded without one, whose safetensors
        header) does not match is reported through `warn`, moved aside and not finished."""
        row = self._db.execute("SELECT kind, spec, tensor_bytes, tensor_sha256 FROM jobs WHERE key = ?",
                               (_valid(key),)).fetchone()
        if row is None:
            return False
        kind, spec, size, sha = row
        return size is None or self._intact(key, kind, spec, size, sha)

    @_guarded
    def put(self, key: str, kind: str, spec: Mapping[str, Any],
            tensors: Mapping[str, Tensor] | bytes | None, metrics: Mapping[str, Any],
            state_digest: str | None, *, seconds: float | None = None) -> StoredJob:
        """Record finished job `key`: tensors made durable first, then the row, atomically.

        `spec` must be JSON data (it is what `runs` summarizes); `metrics` are final values
        (`loss`, `accuracy`, … as numbers). `tensors` may be given as the file's bytes, made by
        `tensor_file(key, kind, tensors)` elsewhere (an executor's worker). Putting a key again
        replaces the job.
        """
        return self.put_many([(key, kind, spec, tensors, metrics, state_digest, seconds)])[0]

    @_guarded
    def put_many(self, jobs: Iterable[tuple[str, str, Mapping[str, Any], Mapping[str, Tensor] | bytes | None,
                                            Mapping[str, Any], str | None, float | None]]) -> list[StoredJob]:
        """Record finished jobs `(key, kind, spec, tensors, metrics, state_digest, seconds)` as
        `put` does, many at once: every tensor file made durable (written, fsynced, renamed;
        the directory fsynced once), then all rows in one transaction. A crash at any point
        loses only jobs whose rows were not committed; their files are overwritten when they
        are recomputed. A finished job's partial record (`put_partial`) is removed."""
        rows = []
        renamed = False
        for key, kind, spec, tensors, metrics, state_digest, seconds in jobs:
            _valid(key)
            self._writable()
            _check_json(spec, "spec")
            spec_text = json.dumps(dict(spec), ensure_ascii=False, allow_nan=False)  # keeps order
            metrics_text = json.dumps(dict(metrics), sort_keys=True)
            size = sha = None
            if tensors is not None:
                size, sha = self._write_tensors(key, kind, tensors, sync_dir=False)
                renamed = True
            rows.append((key, kind, spec_text, metrics_text, state_digest, size, time.time(), seconds, sha))
        if renamed:
            _fsync_dir(self.root / TENSORS)
        with self._write():
            self._db.executemany(
                "INSERT OR REPLACE INTO jobs (key, kind, spec, metrics, state_digest, tensor_bytes, created,"
                " seconds, tensor_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        for row in rows:
            self._partial_path(row[0]).unlink(missing_ok=True)
        return [StoredJob(key, kind, json.loads(spec_text), json.loads(metrics_text), digest, size is not None,
                          created, seconds, sha)
                for key, kind, spec_text, metrics_text, digest, size, created, seconds, sha in rows]

    # -- partial records ----------------------------------------------------------------------

    def put_partial(self, name: str, data: bytes | None) -> None:
        """Keep `data` (a safetensors file's bytes) as the partial record `name` of a running job
        (`DIR/partial/NAME.safetensors`), or remove it (`None`).

        A partial record is progress inside a job (the state after an epoch), never a result:
        no row lists it, so `has`, `get` and `runs` never see it, and the body that reads it
        checks it (the torch backend's resume module checks the job keys, epochs and
        digests). It is the one thing a read-only store (an executor's worker) may write, and
        that is safe: it is written atomically (a temporary file in the same folder, then a
        rename: a reader sees the old record or the new one, never half of one); the job's
        body is its only writer (the driver holds the job's lock while a worker runs it);
        a writer killed mid-write leaves a temporary file that `Store.open` removes like any
        other; and the driver removes the record when it stores the job. It is not fsynced:
        one lost or torn by a crash is ignored and the job trains from an earlier point."""
        _valid(name)
        path = self._partial_path(name)
        if data is None:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
            return
        tmp = path.with_name(f"{_TMP_PREFIX}{_host()}.{os.getpid()}.{uuid.uuid4().hex[:12]}.{path.name}")
        try:
            path.parent.mkdir(exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a store that cannot keep records only loses progress

    def partial(self, name: str) -> bytes | None:
        """The bytes of partial record `name`, or None."""
        try:
            return self._partial_path(_valid(name)).read_bytes()
        except OSError:
            return None

    def _partial_path(self, name: str) -> Path:
        return self.root / PARTIAL / f"{name}.safetensors"

    @_guarded
    def get(self, key: str) -> StoredJob:
        """The finished job `key`; KeyError when it is absent or unfinished."""
        row = self._db.execute(
            "SELECT kind, spec, metrics, state_digest, tensor_bytes, created, seconds, tensor_sha256 "
            "FROM jobs WHERE key = ?", (_valid(key),)).fetchone()
        if row is None or not self._file_complete(key, row[4]):
            raise KeyError(f"no finished job {key}")
        kind, spec, metrics, digest, size, created, seconds, sha = row
        return StoredJob(key, kind, json.loads(spec), json.loads(metrics), digest,
                         size is not None, created, seconds, sha)

    def tensors(self, key: str) -> dict[str, Tensor]:
        """The tensors of finished job `key` (safetensors, never pickle); {} if it has none.

        The bytes read are the bytes verified: StoreError (E902) when their sha256 is not the
        one recorded or they are not safetensors."""
        job = self.get(key)
        if not job.has_tensors:
            return {}
        from safetensors.torch import load

        path = self._tensor_path(key)
        hint = ("run again the command that made it (`catdsl run FILE`): it moves the damaged file aside "
                "and recomputes the job")
        data = path.read_bytes()
        if job.tensor_sha256 is not None and hashlib.sha256(data).hexdigest() != job.tensor_sha256:
            raise StoreError(path, f"the tensors of `{job.label}` ({key[:12]}) in `{path}` are damaged: their "
                             "sha256 is not the one recorded", hint)
        try:
            tensors = load(data)
        except Exception as e:  # safetensors' own error type: the header or the layout is damaged
            raise StoreError(path, f"the tensors of `{job.label}` ({key[:12]}) in `{path}` cannot be read: {e}",
                             hint) from None
        # in name order: safetensors hands them out in an order that differs from process to
        # process, and code that walks a state (probe draws, flattening) must not depend on that
        return dict(sorted(tensors.items()))

    @_guarded
    def runs(self, *, kind: str | None = None, label: str | None = None,
             source: str | os.PathLike[str] | None = None) -> list[RunRow]:
        """Finished jobs, oldest first, for `catdsl runs`: all, or those of `kind`, whose label
        contains `label`, or that a run of the .cat file `source` used."""
        sources: dict[str, list[str]] = {}
        for job, path in self._db.execute("SELECT job, source FROM sources ORDER BY source"):
            sources.setdefault(job, []).append(path)
        wanted = str(Path(source).resolve()) if source is not None else None
        rows = self._db.execute(
            "SELECT key, kind, spec, metrics, tensor_bytes, created, seconds FROM jobs "
            "ORDER BY created, key").fetchall()
        out = []
        for key, job_kind, spec, metrics, size, created, seconds in rows:
            if kind is not None and job_kind != kind:
                continue
            if wanted is not None and wanted not in sources.get(key, ()):
                continue
            spec_value = json.loads(spec)
            name = spec_value.get("label") if isinstance(spec_value.get("label"), str) else None
            if label is not None and (name is None or label not in name):
                continue
            if not self._file_complete(key, size):
                continue
            values = json.loads(metrics)
            out.append(RunRow(key, job_kind, _summary(spec_value),
                              _first_number(values, _LOSS_NAMES),
                              _first_number(values, _ACCURACY_NAMES), created, seconds, name,
                              hyperparameters(spec_value), tuple(sources.get(key, ())), values))
        return out

    @_guarded
    def note_source(self, source: str | os.PathLike[str], keys: Iterable[str]) -> None:
        """Record that a run of the .cat file `source` uses the jobs `keys` (for `runs --file`)."""
        path = str(Path(source).resolve())
        with self._write():
            self._db.executemany("INSERT OR IGNORE INTO sources VALUES (?, ?)",
                                 [(_valid(k), path) for k in keys])

    @contextmanager
    def lock(self, keys: Iterable[str], waiting: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the lock of every job in `keys` for the block: a process computing one of them
        waits until another that holds it is done (and then finds it finished), so two runs on
        one store compute a job once. Locks are taken in sorted order, so two processes never
        wait for each other; `waiting(key)` is told before waiting for one."""
        try:
            import fcntl
        except ImportError:  # no flock here: a job may be computed twice, never wrongly
            yield
            return
        with ExitStack() as held:
            for key in sorted(set(keys)):
                fd = os.open(self.root / LOCKS / f"{_valid(key)}.lock", os.O_RDWR | os.O_CREAT, 0o644)
                held.callback(os.close, fd)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if waiting is not None:
                        waiting(key)
                    fcntl.flock(fd, fcntl.LOCK_EX)
                held.callback(fcntl.flock, fd, fcntl.LOCK_UN)
            yield

    # -- curves -------------------------------------------------------------------------------

    @_guarded
    def record_metric(self, key: str, step: int, name: str, value: float) -> None:
        """Record one point of a curve (e.g. training loss at a step) of job `key`.

        Written while the job runs, so the job need not be finished; the same (key, name,
        step) recorded again replaces the value (a resumed job re-logs its steps).
        """
        with self._write():
            self._db.execute("INSERT OR REPLACE INTO metrics VALUES (?, ?, ?, ?)",
                             (_valid(key), name, int(step), float(value)))

    @_guarded
    def curve(self, key: str, name: str) -> list[tuple[int, float]]:
        """The recorded points (step, value) of curve `name` of job `key`, by step."""
        return [(s, v) for s, v in self._db.execute(
            "SELECT step, value FROM metrics WHERE job = ? AND name = ? ORDER BY step",
            (_valid(key), name))]

    # -- verdicts -----------------------------------------------------------------------------

    @_guarded
    def put_verdict(self, source: str, law: str, verdict: Verdict, *,
                    job: str | None = None) -> None:
        """Record the verdict a check gave law `law` of `source` (optionally about a job)."""
        with self._write():
            self._db.execute(
                "INSERT INTO verdicts (source, law, status, via, witness, samples, difference,"
                " job, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (source, law, verdict.status, verdict.via, verdict.witness, verdict.samples,
                 verdict.difference, job, time.time()))

    @_guarded
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

    def _writable(self) -> None:
        if self.readonly:
            raise StoreError(self.root / DATABASE, f"the run store `{self.root}` was opened read-only (a worker's)",
                             "a job body returns its results; the executor's driver stores them")

    @contextmanager
    def _write(self) -> Iterator[None]:
        self._writable()
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

    def _intact(self, key: str, kind: str, spec: str, size: int, sha: str | None) -> bool:
        """Whether KEY.safetensors has the recorded size and sha256 (checked once per version of
        the file); a damaged one is reported and moved aside."""
        path = self._tensor_path(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        if stat.st_size != size:
            return False
        stamp = (stat.st_size, stat.st_mtime_ns, stat.st_ino, sha)
        if self._verified.get(key) == stamp:
            return True
        if sha is not None:
            problem = None if _file_sha256(path) == sha else "their sha256 is not the one recorded"
        else:  # a row from before sha256s were recorded: at least the header must be sound
            problem = _header_problem(path, size)
        if problem is None:
            self._verified[key] = stamp
            return True
        self._set_aside(key, kind, spec, path, problem)
        return False

    def _set_aside(self, key: str, kind: str, spec: str, path: Path, problem: str) -> None:
        aside = path.with_name(path.name + DAMAGED_SUFFIX)
        try:
            if self.readonly:  # a worker's store moves nothing; the driver's `has` will
                raise OSError
            os.replace(path, aside)
            where = f"moved to `{aside}`"
        except OSError:
            where = f"left at `{path}`"
        try:
            label = json.loads(spec).get("label") or key[:12]
        except (ValueError, AttributeError):
            label = key[:12]
        message = (f"the stored tensors of `{label}` ({kind} job {key[:12]}) are damaged: {problem}; "
                   f"{where}, the job is recomputed")
        self.warnings.append(message)
        self.warn(message)

    def _write_tensors(self, key: str, kind: str, tensors: Mapping[str, Tensor] | bytes,
                       sync_dir: bool = True) -> tuple[int, str]:
        """Write KEY.safetensors durably and atomically; return its size in bytes and sha256."""
        final = self._tensor_path(key)
        tmp = final.with_name(
            f"{_TMP_PREFIX}{_host()}.{os.getpid()}.{uuid.uuid4().hex[:12]}.{key}.safetensors")
        if isinstance(tensors, (bytes, bytearray, memoryview)):
            data = bytes(tensors)
            problem = _bytes_problem(data, key, kind)
            if problem is not None:
                raise ValueError(f"the tensor file given for job {key[:12]} ({kind}) {problem}")
        else:
            data = tensor_file(key, kind, tensors)
        sha = hashlib.sha256(data).hexdigest()
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if sync_dir:
            _fsync_dir(final.parent)
        stat = final.stat()
        self._verified[key] = (stat.st_size, stat.st_mtime_ns, stat.st_ino, sha)
        return len(data), sha

    def _remove_stray_temp_files(self) -> None:
        """Remove temp files whose writer died (same host) or that are a day old (any host), and
        the partial records of finished jobs (a driver killed between storing a job and
        removing its record leaves one)."""
        now = time.time()
        partial = self.root / PARTIAL
        if partial.is_dir():
            for record in partial.glob("*.safetensors"):
                if not record.name.startswith(_TMP_PREFIX) and self._db.execute(
                        "SELECT 1 FROM jobs WHERE key = ?", (record.name[: -len(".safetensors")],)).fetchone():
                    record.unlink(missing_ok=True)
        for tmp in [*(self.root / TENSORS).glob(_TMP_PREFIX + "*"), *partial.glob(_TMP_PREFIX + "*")]:
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


def hyperparameters(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The HYPERPARAMETERS of a job spec, each from the spec itself or the first object in it
    that has it (`optimizer` of a train job); absent ones are left out."""
    found: dict[str, Any] = {}
    for name in HYPERPARAMETERS:
        places = [spec, *(v for v in spec.values() if isinstance(v, Mapping))]
        value = next((p[name] for p in places if name in p), None)
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            found[name] = value
    return found


def _file_sha256(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def _header_problem(path: Path, size: int) -> str | None:
    """What is wrong with a safetensors file's header and layout (None: nothing), without torch."""
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > size - 8:
                return "the header is longer than the file"
            header = json.loads(f.read(n))
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    except (OSError, struct.error, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return "the safetensors header cannot be read"
    if max(ends, default=0) != size - 8 - n:
        return "the tensors do not fill the file"
    return None


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


def tensor_file(key: str, kind: str, tensors: Mapping[str, Tensor]) -> bytes:
    """The bytes of job `key`'s tensor file, as `put` writes it (a worker makes them, so that its
    driver stores them without importing torch)."""
    from safetensors.torch import save

    return save(_saveable(tensors), metadata={"catdsl.key": key, "catdsl.kind": kind})


def _bytes_problem(data: bytes, key: str, kind: str) -> str | None:
    """What is wrong with the bytes of a tensor file given for job `key` (None: nothing): a
    sound safetensors layout whose metadata names this job."""
    try:
        (n,) = struct.unpack("<Q", data[:8])
        if n > len(data) - 8:
            return "has a header longer than itself"
        header = json.loads(data[8:8 + n])
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
        meta = header.get("__metadata__") or {}
    except (struct.error, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return "is not safetensors"
    if max(ends, default=0) != len(data) - 8 - n:
        return "has tensors that do not fill it"
    if meta.get("catdsl.key") != key or meta.get("catdsl.kind") != kind:
        return f"names another job ({meta.get('catdsl.kind')} {str(meta.get('catdsl.key'))[:12]})"
    return None


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
