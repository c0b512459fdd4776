"""`catdsl compile | run | runs`, reached by the CLI through the backend registry.

Each takes an elaborated Module (or a store directory) and the parsed command-line arguments
and returns an exit code; diagnostics go through catdsl's renderer like any other.
"""

from __future__ import annotations

import sys
import time

from catdsl.diagnostics import Diagnostic, DiagnosticError


def _session(module, args):
    from backends.run.execute import Executor
    from backends.run.plan import compile_program
    from backends.run.store import Store
    from backends.torch.program import Limits, ProgramError, read_program

    limits = Limits(epochs=args.max_epochs, runs=args.max_runs, params=args.max_params)
    try:
        program = read_program(module, limits)
    except ProgramError as e:
        raise DiagnosticError(e.diagnostics) from None
    plan = compile_program(program)
    store = Store.open(args.store) if args.store else Store.beside(module.file)
    return program, plan, store, Executor(program, store, device=_device(args.device))


def _device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def compile_file(module, args) -> int:
    from backends.run.plan import compile_program
    from backends.torch.program import Limits, ProgramError, read_program

    try:
        program = read_program(module, Limits(epochs=args.max_epochs, runs=args.max_runs,
                                              params=args.max_params))
    except ProgramError as e:
        raise DiagnosticError(e.diagnostics) from None
    print(compile_program(program).to_json())
    return 0


def run_file(module, args) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from backends.run.execute import TrainingDiverged

    program, plan, store, executor = _session(module, args)
    console = Console(highlight=False, stderr=False)
    start = time.perf_counter()
    try:
        counts = executor.run(plan, progress=sys.stderr.isatty() or args.progress)
    except TrainingDiverged as e:
        span = program.functors[e.job.label.split(".")[0]].spans.get(
            e.job.label.split(".")[1].split(" ")[0]) if "." in e.job.label else None
        from catdsl.span import Span

        raise DiagnosticError([Diagnostic(
            "E405", f"training diverged: {e.job.label} reached loss {e.loss} at step {e.step}",
            span or Span(module.file, 1, 1, 1, 1),
            hints=("lower the learning rate; the jobs that finished are kept in the store",))]) from None
    table = Table(title=module.file, title_justify="left")
    for col in ("state", "step", "epoch", "test loss", "test acc", "train acc", "digest"):
        table.add_column(col)
    for fname, objects in plan.objects.items():
        for obj, key in objects.items():
            job = store.get(key)
            m = job.metrics
            fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
            table.add_row(Text(f"{fname}.{obj}"), str(m.get("step")), str(m.get("epoch")), fmt(m.get("loss")),
                          fmt(m.get("accuracy")), fmt(m.get("train_accuracy")), (job.state_digest or "")[:12])
    console.print(table)
    print(f"{counts['ran']} job(s) ran, {counts['reused']} reused ({time.perf_counter() - start:.2f} s)")
    return 0


def list_runs(args) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from backends.run.store import Store

    store = Store.open(args.store)
    rows = store.runs()
    table = Table(title=str(args.store), title_justify="left")
    for col in ("id", "kind", "spec", "loss", "accuracy", "seconds", "when"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r.key[:12], r.kind, Text(r.summary), "-" if r.loss is None else f"{r.loss:.4f}",
                      "-" if r.accuracy is None else f"{r.accuracy:.4f}",
                      "-" if r.seconds is None else f"{r.seconds:.2f}",
                      time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created)))
    Console(highlight=False).print(table)
    print(f"{len(rows)} finished job(s)")
    return 0
