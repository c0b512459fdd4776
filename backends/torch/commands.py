"""`catdsl compile | run` of a learning program, reached by the CLI through the backend registry.

Each takes an elaborated Module and the parsed command-line arguments and returns an exit
code; diagnostics go through catdsl's renderer like any other. The limits of the command line
reach the program through `module.memo["limits"]` (set by the CLI); `run --executor NAME` picks
the executor (`backends.run.executor.make_executor`).

When every job is in the store, `run` imports neither torch nor scikit-learn: the program is
read from the data facts recorded in the store's data folder, the device is decided only when
a job must run, and the tables print stored metrics.

`run` names the device it was given before any work (`--device gpu` is E408 at once; `cuda` on
a machine without CUDA when the first job must run), and Ctrl-C exits 130 saying how many
finished jobs the store kept. When stdout is not a terminal, tables are printed unwrapped.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import TYPE_CHECKING

from catdsl import analysis
from catdsl.diagnostics import Diagnostic, DiagnosticError

if TYPE_CHECKING:
    from backends.run.execute import DeviceError

# The commands import the backend when they run, not when the CLI looks them up: `run
# --executor process` starts its workers' server first (`_start_early`), and what is imported
# here would delay it.


def compile_file(module, args) -> int:
    from backends.torch.plan import compile_program
    from backends.torch.program import ProgramError, read_program
    from backends.torch.session import store_dir

    where = store_dir(module, args.store)  # facts are read from a store that exists; none is made
    try:
        program = read_program(module, cache_dir=where / "data" if where.is_dir() else None)
    except ProgramError as e:
        raise DiagnosticError(e.diagnostics) from None
    print(compile_program(program).to_json())
    return 0


def run_file(module, args) -> int:
    from rich.console import Console

    from backends.run.execute import DeviceError, check_device_name
    from backends.run.executor import UnknownExecutor
    from backends.torch.data import DataError
    from backends.torch.program import ProgramError
    from backends.torch.results import TrainingDiverged
    from backends.torch.session import Session

    try:
        check_device_name(args.device)
        s = Session(module, args.store, executor=getattr(args, "executor", "local"), device=args.device,
                    workers=getattr(args, "workers", None), address=getattr(args, "address", None))
    except ProgramError as e:
        raise DiagnosticError(e.diagnostics) from None
    except UnknownExecutor as e:
        print(f"catdsl run: {e}", file=sys.stderr)
        return 2
    except DeviceError as e:
        raise DiagnosticError([_device_diagnostic(e)]) from None
    program, plan, store = s.program, s.plan, s.store
    as_json = getattr(args, "format", "text") == "json"
    # piped or redirected: no wrapping at 80 columns (a line per row, whatever its length)
    console = Console(highlight=False, stderr=False, width=None if sys.stdout.isatty() else 1_000_000)
    start = time.perf_counter()
    store.note_source(module.file, plan.jobs)
    before = {key for key in plan.jobs if store.has(key)}
    try:
        counts = s.executor.run(plan, progress=(sys.stderr.isatty() or args.progress) and not as_json)
    except KeyboardInterrupt:
        kept = sum(1 for key in plan.jobs if key not in before and store.has(key))
        print(f"interrupted; {kept} job{'' if kept == 1 else 's'} kept in {store.root} "
              "(a new run resumes from them)", file=sys.stderr)
        return 130
    except DeviceError as e:
        raise DiagnosticError([_device_diagnostic(e)]) from None
    except ConnectionError as e:  # `--executor ray --address …`: no cluster answered there
        print(f"catdsl run: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        raise DiagnosticError([Diagnostic(
            "E405", f"training diverged: {e.job.label} reached loss {e.loss} at step {e.step}",
            _span_of(program, e.job, module.file),
            hints=("lower the learning rate; the jobs that finished are kept in the store",))]) from None
    except DataError as e:  # its facts were recorded, but the data cannot be read now
        name = next((n for n, spec in program.data.items() if spec == e.spec), None)
        raise DiagnosticError([Diagnostic("E403", e.message, _declaration(module, name),
                                          hints=(e.hint,) if e.hint else ())]) from None
    analyses = _analyses(module, s)
    if getattr(args, "plots", None):  # `run --plots DIR`: each analysis draws itself (its `plots` hook)
        for path in analysis.plots(module, s, analyses, args.plots):
            print(f"plot: {path}", file=sys.stderr)
    on_report = getattr(args, "on_report", None)  # `run --report DIR`, `catdsl.run`: the JSON data as a dict
    if on_report is not None:
        on_report(run_report(module, s, analyses, counts))
    if as_json:
        import json

        print(json.dumps(run_report(module, s, analyses, counts), indent=2, ensure_ascii=False))
        return 0
    _states_table(module, program, plan, store, console)
    for name, sweep in program.sweeps.items():
        _sweep_table(sweep, list(plan.index[name].values()), store, console, _member_lengths(plan, store, name))
    for name, rep in program.reps.items():
        _rep_table(rep, plan.index[name], store, console)
    for a in module.analyses:
        analysis.handler(a.kind).show(a, analyses[analysis.key_of(a)], console)
    print(f"{counts['ran']} job(s) ran, {counts['reused']} reused ({time.perf_counter() - start:.3f} s)")
    return 0


def _start_early(args) -> None:
    """Called by the CLI before it reads the file: `--executor process` starts its workers' fork
    server now, so that the server's torch import overlaps parsing and elaborating the file."""
    if getattr(args, "executor", "local") == "process":
        from backends.run.pool import start_server

        start_server()


run_file.start_early = _start_early  # type: ignore[attr-defined]


def _analyses(module, session) -> dict[str, dict]:
    """Each analysis's report, from its handler (every analysis has one: `check` refuses the rest)."""
    return {analysis.key_of(a): analysis.handler(a.kind).report(a, session) for a in module.analyses}


def run_report(module, session, analyses: dict[str, dict], counts: dict[str, int]) -> dict:
    """`catdsl run --format json`: every job of the plan with its digest and metrics, every sweep
    and analysis with its results; one shape for every file."""
    jobs = []
    for job in session.plan.jobs.values():
        stored = session.store.get(job.key)
        jobs.append({"label": job.label, "kind": job.kind, "key": job.key, "digest": stored.state_digest,
                     "seconds": stored.seconds, "metrics": stored.metrics})
    sweeps = {}
    for name, sweep in session.program.sweeps.items():
        lengths = _member_lengths(session.plan, session.store, name)  # `fisher = …`: each run's length
        sweeps[name] = {"kind": "sweep", "of": f"{sweep.functor}.{sweep.generator}",
                        "members": {f"{name}[{m.index}]": {"values": {k: v for k, v in m.values}, "key": key,
                                                           **({"fisher_rao": lengths[i]} if lengths else {})}
                                    for i, (m, key) in enumerate(zip(sweep.members,
                                                                     session.plan.index[name].values()))}}
        groups = json_groups(sweep, [session.store.get(k).metrics for k in session.plan.index[name].values()])
        if groups is not None:  # the grouped table: by the bound values other than `seed`
            sweeps[name]["groups"] = groups
    return {"file": module.file, "jobs": jobs, "analyses": {**sweeps, **analyses}, "counts": counts}


def _device_diagnostic(e: DeviceError) -> Diagnostic:
    from catdsl.span import Span

    return Diagnostic("E408", str(e), Span("<command line>", 1, 1, 1, 1),
                      hints=("--device auto uses CUDA when this machine has it, else the CPU",))


def _declaration(module, name):
    from catdsl.span import Span

    return next((d.span for d in module.declarations if d.name == name), Span(module.file, 1, 1, 1, 1))


def _span_of(program, job, file: str):
    """Where the file wrote what a job computes: the generator's image, or the sweep."""
    from catdsl.span import Span

    owner, part = job.origin or (None, None)
    if owner in program.sweeps:
        return program.sweeps[owner].span
    if owner in program.functors:
        return program.functors[owner].spans.get(part) or Span(file, 1, 1, 1, 1)
    return Span(file, 1, 1, 1, 1)


def _number(v) -> str:
    return "-" if v is None else f"{v:.4f}"


def _states_table(module, program, plan, store, console) -> None:
    from rich.table import Table
    from rich.text import Text

    if not program.functors:
        return
    models = "; ".join(f"{name}: {lf.target.model_name} on {lf.target.data_name} {lf.target.input_shape}, "
                       f"{lf.target.parameters:,} parameters" for name, lf in program.functors.items())
    table = Table(title=f"{module.file} ({models})" if models else module.file, title_justify="left")
    rows = [(f"{fname}.{obj}", store.get(key)) for fname in program.functors for obj, key in plan.index[fname].items()]
    warned = [(name, job.metrics["warning"]) for name, job in rows if job.metrics.get("warning")]
    lengths = _fisher_rao(program, plan, store)
    for col in ("state", "step", "epoch", "test loss", "test acc", "train acc", *(("Fisher–Rao",) if lengths else ()),
                "digest", *(("note",) if warned else ())):
        table.add_column(col)
    for name, job in rows:
        m = job.metrics
        table.add_row(Text(name), str(m.get("step")), str(m.get("epoch")), _number(m.get("loss")),
                      _number(m.get("accuracy")), _number(m.get("train_accuracy")),
                      *((_number(lengths.get(name)),) if lengths else ()),
                      (job.state_digest or "")[:12], *((_note(m),) if warned else ()))
    console.print(table)
    _warnings(warned, console)


def _fisher_rao(program, plan, store) -> dict[str, float]:
    """`Param(…, fisher = true)`: each state's Fisher–Rao length, the sum of its path's generators'."""
    from backends.torch.plan import fisher_index as index_name
    from backends.torch.program import object_paths

    lengths = {}
    for fname, lf in program.functors.items():
        keys = plan.index.get(index_name(fname))
        if keys:
            for obj, path in object_paths(lf).items():
                lengths[f"{fname}.{obj}"] = sum(store.get(keys[g]).metrics["fisher_rao"] for g in path.word)
    return lengths


def _member_lengths(plan, store, sweep_name: str) -> list[float] | None:
    """`Param(…, fisher = …)`: each sweep member's Fisher–Rao length, in member order."""
    from backends.torch.plan import fisher_index

    keys = plan.index.get(fisher_index(sweep_name))
    return [store.get(k).metrics["fisher_rao"] for k in keys.values()] if keys else None


def _sweep_table(sweep, keys: list[str], store, console, lengths: list[float] | None = None) -> None:
    """One row per member: its binding values, then test loss and accuracy of its final state
    (and its Fisher–Rao length when the functor's Param asks for it)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"sweep {sweep.name} = {sweep.functor}.{sweep.generator} ({len(keys)} runs)",
                  title_justify="left")
    jobs = [store.get(key) for key in keys]
    warned = [(f"{sweep.name}[{member.index}]", job.metrics["warning"])
              for member, job in zip(sweep.members, jobs) if job.metrics.get("warning")]
    for col in ("member", *sweep.bindings, "test loss", "test acc", "train acc", *(("Fisher–Rao",) if lengths else ()),
                "digest", *(("note",) if warned else ())):
        table.add_column(col, justify="right" if col not in ("member", "note") else "left")
    accuracies = []
    for i, (member, job) in enumerate(zip(sweep.members, jobs)):
        m = job.metrics
        if m.get("accuracy") is not None:
            accuracies.append(m["accuracy"])
        table.add_row(Text(f"{sweep.name}[{member.index}]"), *(Text(_show(v)) for _, v in member.values),
                      _number(m.get("loss")), _number(m.get("accuracy")), _number(m.get("train_accuracy")),
                      *((_number(lengths[i]),) if lengths else ()),
                      (job.state_digest or "")[:12], *((_note(m),) if warned else ()))
    console.print(table)
    _warnings(warned, console)
    if len(accuracies) > 1:
        console.print(f"{sweep.name}: test accuracy {statistics.mean(accuracies):.4f} ± "
                      f"{statistics.stdev(accuracies):.4f} (mean ± sd over {len(accuracies)} runs), "
                      f"min {min(accuracies):.4f}, max {max(accuracies):.4f}")
    _sweep_groups_table(sweep, [job.metrics for job in jobs], console)


def sweep_groups(sweep, metrics: list[dict]) -> list[dict]:
    """The members grouped by their bound values other than `seed`, in member order: per group
    those values, its members, mean and sd of test accuracy and loss over them (sd None for one
    run), and its best member (highest test accuracy)."""
    groups: dict[tuple, list] = {}
    for member, m in zip(sweep.members, metrics):
        groups.setdefault(tuple((k, v) for k, v in member.values if k != "seed"), []).append((member, m))

    def spread(values: list[float]) -> tuple[float | None, float | None]:
        if not values:
            return None, None
        return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else None

    out = []
    for values, rows in groups.items():
        scored = [(member, m) for member, m in rows if m.get("accuracy") is not None]
        best = max(scored, key=lambda r: r[1]["accuracy"], default=(None, None))[0]
        out.append({"values": dict(values), "members": [member.index for member, _ in rows],
                    "accuracy": spread([m["accuracy"] for _, m in scored]),
                    "loss": spread([m["loss"] for _, m in rows if m.get("loss") is not None]),
                    "best": best})
    return out


def json_groups(sweep, metrics: list[dict]) -> list[dict] | None:
    """`sweep_groups` as `run --format json` gives them (a sweep's `groups`): per group its
    bound values, its members by name, `runs`, mean and sd of test accuracy and loss, and its
    best member's name; None when the text table has no grouped table either (the sweep binds
    only `seed`, or has one member)."""
    if not [b for b in sweep.bindings if b != "seed"] or len(sweep.members) < 2:
        return None
    return [{"values": g["values"], "members": [f"{sweep.name}[{i}]" for i in g["members"]],
             "runs": len(g["members"]),
             "accuracy": {"mean": g["accuracy"][0], "sd": g["accuracy"][1]},
             "loss": {"mean": g["loss"][0], "sd": g["loss"][1]},
             "best": None if g["best"] is None else f"{sweep.name}[{g['best'].index}]"}
            for g in sweep_groups(sweep, metrics)]


def _sweep_groups_table(sweep, metrics: list[dict], console) -> None:
    """A row per group of bound values other than `seed` (`sweep_groups`), when a sweep binds
    something besides the seed: mean ± sd over the group's runs, and its best member."""
    from rich.table import Table
    from rich.text import Text

    others = [b for b in sweep.bindings if b != "seed"]
    if not others or len(sweep.members) < 2:
        return
    groups = sweep_groups(sweep, metrics)

    def pm(pair) -> str:
        mean, sd = pair
        return "-" if mean is None else f"{mean:.4f}" + ("" if sd is None else f" ± {sd:.4f}")

    over = "seeds" if "seed" in sweep.bindings else "runs"
    table = Table(title=f"sweep {sweep.name} by {', '.join(others)} ({len(groups)} groups; mean ± sd over {over})",
                  title_justify="left")
    for col in (*others, "runs", "test acc", "test loss", "best"):
        table.add_column(col, justify="left" if col == "best" else "right")
    for g in groups:
        best = g["best"]
        shown = "-" if best is None else \
            f"{sweep.name}[{best.index}] {metrics[best.index].get('accuracy'):.4f}" + \
            ("".join(f" ({k}={_show(v)})" for k, v in best.values if k == "seed"))
        table.add_row(*(Text(_show(g["values"][k])) for k in others), str(len(g["members"])),
                      pm(g["accuracy"]), pm(g["loss"]), Text(shown))
    console.print(table)


def _rep_table(rep, keys: dict[str, str], store, console) -> None:
    """One row per generator f: the feature path L(Run f) and how much it moved."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{rep.name} = features({rep.base}): layer {rep.layer}, probe "
                        f"{rep.probe.data_name}.{rep.probe.split} ({rep.probe.size} points)", title_justify="left",
                  caption="CKA, Procrustes: linear CKA and Procrustes distance of the start and end features; "
                          "violations: rate of the structure condition", caption_justify="left")
    for col in ("trajectory", "points", "width", "CKA", "Procrustes", "violations", "k"):
        table.add_column(col, justify="left" if col == "trajectory" else "right")
    for generator, key in keys.items():
        m = store.get(key).metrics
        table.add_row(Text(f"{rep.name}({rep.base}.{generator})"), str(m.get("points")), str(m.get("width")),
                      _number(m.get("cka")), _number(m.get("procrustes")), _number(m.get("structure")),
                      str(m.get("k")))
    console.print(table)


def _note(metrics: dict):
    from rich.text import Text

    return Text("loss exploded", style="bold yellow") if metrics.get("warning") else Text("")


def _warnings(warned: list[tuple[str, str]], console) -> None:
    """A line per state whose training finished with an exploding (finite) loss."""
    from rich.text import Text

    for name, warning in warned:
        console.print(Text.assemble(("warning", "bold yellow"), f": {name}: {warning}"))


def _show(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
