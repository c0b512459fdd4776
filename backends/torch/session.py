"""The program, plan, store and executor of one module: what `catdsl check` (Param, Rep) and
`catdsl run` work on. The executor is built by `backends.run.executor.make_executor`; results
are read through `Results`, whatever executor made them."""

from __future__ import annotations

from pathlib import Path

from backends.run.executor import make_executor
from backends.run.store import DEFAULT_DIR, Store
from backends.torch.plan import compile_program
from backends.torch.program import read_program
from backends.torch.results import Results


def store_dir(module, given: str | None) -> Path:
    """The run store of a module: `--store DIR`, else `.catdsl/` beside the file."""
    return Path(given) if given else Path(module.file).resolve().parent / DEFAULT_DIR


def data_dir(module) -> Path | None:
    """Where a module's data sets are cached (their facts, generated arrays): the data folder of
    its run store; None for a command that makes no store (`draw` sets `module.memo["no_store"]`)
    while there is none, which then reads its data without keeping it."""
    where = store_dir(module, module.memo.get("store"))
    if module.memo.get("no_store") and not where.is_dir():
        return None
    return where / "data"


class Session:
    def __init__(self, module, given: str | None, executor: str = "local", device: str = "cpu",
                 workers: int | None = None, address: str | None = None):
        where = store_dir(module, given)
        if executor == "process":  # its workers' server imports torch while the file is read
            from backends.run.pool import start_server

            start_server()
        self.program = read_program(module, cache_dir=where / "data")
        self.plan = compile_program(self.program)
        self.store = Store.open(where)
        self.executor = make_executor(executor, store=self.store, device=device, workers=workers, address=address)
        self.results = Results(self.executor.context)

    @classmethod
    def of(cls, module, store_dir=None) -> "Session":
        """The session of `module` for the checker, made once per process (on the CPU, in process)."""
        key = ("param-session", store_dir)
        if key not in module.memo:
            module.memo[key] = cls(module, store_dir)
        return module.memo[key]
