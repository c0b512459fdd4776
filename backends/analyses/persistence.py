"""The `persistence` analysis handler (docs/architecture.md, "Analyses"; docs/language.md §8.6).

Two methods:

- `persistence P of Paths(loss = (x, y) |-> …) by sublevel(box = [[x0, x1], [y0, y1]], grid = N)`
  (or `of F` for a functor F into such a Paths): the loss is sampled on the grid from its
  sympy expression (`backends.symbolic.landscape`) and its sublevel persistence computed at
  report time (`backends.persistence.sublevel`); no job, no torch.
- `persistence P of S by landscape(plane = filter | runs | pca, grid = N, radius = r,
  metric = loss | error)` of a sweep S, or of one state `Run.X` (a generator `Run.g`: the
  state it ends at, or with `plane = pca` its trajectory): `landscape` jobs sample the grids
  (`backends.torch.landscape`), kept in the run store; the report computes their diagrams and,
  over a sweep, how well total persistence and the baselines (ℓ2 norm, filter-normalized
  sharpness, Hessian trace) predict the generalization gap (`backends.persistence.statistics`).

Options common to both: `noise = c` (absolute threshold of the noise flag; default the grid's
local resolution) and `p` (of total persistence, default 1; `inf` for the longest bar).
"""

from __future__ import annotations

import json
import math
from typing import Any

from catdsl.backend import BackendError
from catdsl.diagnostics import Diagnostic
from catdsl.syntax import ast as A

LANDSCAPE_OPTIONS = ("plane", "grid", "radius", "metric", "seed", "split", "size", "noise", "p", "hessian",
                     "essential")
DEFAULTS = {"plane": "filter", "grid": 41, "radius": 1.0, "metric": "loss", "seed": 0, "split": "train",
            "size": None, "hessian": 16, "essential": "exclude"}
# the options that change what a landscape job samples (the rest are read at report time)
SAMPLED = ("plane", "grid", "radius", "seed", "split", "size")
MAX_GRID_DEFAULT = 1_000_000


def _max_grid(module) -> int:
    limit = (module.memo.get("limits") or {}).get("grid")
    return int(limit) if limit is not None else MAX_GRID_DEFAULT


def _what(analysis) -> str:
    return f"`persistence {analysis.name}`" if analysis.name else "`persistence`"


class Persistence:
    @staticmethod
    def validate(module, analysis) -> list[Diagnostic]:
        try:
            if analysis.method == "sublevel":
                _sublevel(module, analysis)
            elif analysis.method == "landscape":
                landscape_options(module, analysis)
            else:
                raise BackendError("E222", f"{_what(analysis)} has no method `{analysis.method}`",
                                   analysis.statement.method.span,
                                   hints=("write `by sublevel(box = …, grid = N)` for a loss of Paths, or "
                                          "`by landscape(plane = filter, grid = N, radius = r)` for trained states",))
        except BackendError as e:
            return [Diagnostic(e.code, e.message, e.span, hints=e.hints)]
        return []

    @staticmethod
    def laws(module, analysis) -> list:
        return []

    @staticmethod
    def jobs(plan, program, analysis) -> None:
        if analysis.method != "landscape":
            return None
        _landscape_jobs(plan, program, analysis, landscape_options(program.module, analysis))
        return None

    @staticmethod
    def report(analysis, session) -> dict:
        module = session.program.module
        if analysis.method == "sublevel":
            return _sublevel_report(module, analysis)
        return _landscape_report(module, analysis, session)

    @staticmethod
    def show(analysis, report, console) -> None:
        _show(analysis, report, console)

    @staticmethod
    def plots(analysis, report, session, directory) -> list:
        """Its diagram, heat map and scatter (`backends/persistence/plots.py`)."""
        from backends.persistence.plots import plot_report
        from catdsl.analysis import key_of

        return plot_report({"analyses": {key_of(analysis): report}}, directory, session.store.root)


# ---- sublevel: a loss of Paths ------------------------------------------------------------------


def _sublevel(module, analysis):
    """(Sublevel, axes, values, noise, p), computed once per module and analysis."""
    from backends.symbolic.landscape import option_number, read, sample

    key = ("persistence-sublevel", analysis.span, _max_grid(module))
    if key not in module.memo:
        try:
            s = read(module, analysis, _max_grid(module))
            noise = option_number(analysis, "noise", None)
            p = option_number(analysis, "p", 1.0, lowest=1.0)
            essential = analysis.argument("essential")
            if essential is not None and not (isinstance(essential, A.Name) and essential.id in ("exclude", "truncate")):
                raise BackendError("E311", "`essential` must be exclude or truncate", essential.span)
            axes, values = sample(s)
            module.memo[key] = (s, axes, values, noise, p, essential.id if essential is not None else "exclude")
        except BackendError as e:
            module.memo[key] = e
    found = module.memo[key]
    if isinstance(found, BackendError):
        raise found
    return found


def _sublevel_report(module, analysis) -> dict:
    from backends.persistence.sublevel import diagram

    s, axes, values, noise, p, essential = _sublevel(module, analysis)
    d = diagram(values, axes, noise)
    return {"kind": "persistence", "method": "sublevel", "variables": list(s.names),
            "box": [list(b) for b in s.bounds], "grid": s.grid, "diagram": d.to_json(),
            "bars": d.bars_json(), **_summary(d, p, essential)}


def _summary(d, p: float, essential: str = "exclude") -> dict:
    from backends.persistence.sublevel import total_persistence

    dims = range(max(len(d.axes), 1))
    return {"total_persistence": total_persistence(d, p, essential=essential),
            "total_persistence_by_dimension": {str(k): total_persistence(d, p, [k], essential=essential)
                                               for k in dims},
            "p": None if math.isinf(p) else p, "essential_convention": essential,
            "noise_bars": sum(b.noise for b in d.bars),
            "essential": {"birth": d.minimum, "death": None, "range": d.maximum - d.minimum}}


# ---- landscape: trained states --------------------------------------------------------------------


def _literal(node: A.Expr):
    match node:
        case A.Number(text=t):
            return float(t) if any(c in t for c in ".eE") else int(t)
        case A.Neg(operand=A.Number(text=t)):
            return -(float(t) if any(c in t for c in ".eE") else int(t))
        case A.Name(id=i):
            return i
    return None


def landscape_options(module, analysis) -> dict[str, Any]:
    """The options of a `landscape` analysis, checked against its subject; raises BackendError."""
    key = ("persistence-landscape", analysis.span, _max_grid(module))
    if key in module.memo:
        return module.memo[key]
    subject = analysis.subject
    opts = dict(DEFAULTS)
    spans = {}
    for name, node in analysis.arguments:
        if name not in LANDSCAPE_OPTIONS:
            raise BackendError("E404", f"`landscape` has no option `{name}`", node.span,
                               hints=(f"its options are {', '.join(LANDSCAPE_OPTIONS)}",))
        opts[name], spans[name] = _literal(node), node.span

    def bad(name: str, wanted: str):
        return BackendError("E404", f"`{name}` must be {wanted}, not `{opts[name]}`",
                            spans.get(name, analysis.span))

    from backends.torch.landscape import METRICS, PLANES

    if opts["plane"] not in PLANES:
        raise bad("plane", " or ".join(PLANES))
    if opts["metric"] not in METRICS:
        raise bad("metric", " or ".join(METRICS))
    if opts["essential"] not in ("exclude", "truncate"):
        raise bad("essential", "exclude or truncate")
    if opts["split"] not in ("train", "test"):
        raise bad("split", "train or test")
    if not (isinstance(opts["grid"], int) and opts["grid"] >= 3):
        raise bad("grid", "an integer of at least 3 (points per axis)")
    if opts["grid"] ** 2 > _max_grid(module):
        raise BackendError("E401", f"a grid of {opts['grid']}^2 = {opts['grid'] ** 2:,} points is over the limit "
                           f"of {_max_grid(module):,}", spans.get("grid", analysis.span),
                           hints=("raise it with `--max-grid`, or use a coarser grid",))
    if not (isinstance(opts["radius"], (int, float)) and opts["radius"] > 0):
        raise bad("radius", "a positive number")
    for name in ("seed", "hessian"):
        if not (isinstance(opts[name], int) and opts[name] >= 0):
            raise bad(name, "a non-negative integer")
    if opts["size"] is not None and not (isinstance(opts["size"], int) and opts["size"] >= 1):
        raise bad("size", "a positive integer (points of the evaluation set)")
    if "noise" in opts and opts["noise"] is not None and not (isinstance(opts["noise"], (int, float))
                                                              and opts["noise"] >= 0):
        raise bad("noise", "a non-negative number")
    p = opts.get("p", 1.0)
    if not (p == "inf" or (isinstance(p, (int, float)) and p >= 1)):
        raise bad("p", "a number of at least 1, or inf")
    opts["radius"] = float(opts["radius"])
    # the subject: a sweep, or one state or trajectory of a functor into Param
    if subject.kind == "sweep":
        if opts["plane"] == "pca":
            raise BackendError("E404", "`plane = pca` is the plane of one trajectory: write `of Run.g` for a "
                               "generator g", spans["plane"])
        if opts["plane"] == "runs" and _members(module, subject.name) < 3:
            raise BackendError("E404", "`plane = runs` is the plane through three states: the sweep needs at "
                               "least three members", spans["plane"])
    elif subject.kind == "part":
        functor = module.functors[subject.name]
        target = functor.target
        if isinstance(target, str) or target.name != "Param":
            raise BackendError("E222", f"`landscape` samples trained states: `{subject.name}` is not a functor "
                               "into Param", subject.span,
                               hints=("for a loss of Paths write `by sublevel(box = …, grid = N)`",))
        generator = subject.part in module.presentations[functor.source].generator
        if opts["plane"] == "runs":
            raise BackendError("E404", "`plane = runs` needs three states: write `of S` for a sweep S",
                               spans["plane"])
        if opts["plane"] == "pca" and not generator:
            raise BackendError("E404", f"`plane = pca` needs a trajectory: `{subject.part}` is an object, "
                               "not a generator", spans["plane"])
    else:
        raise BackendError("E222", f"`landscape` samples trained states: the subject must be a sweep or "
                           f"`Run.X`, not {'a functor' if subject.kind == 'functor' else 'a category'}",
                           subject.span, hints=("for a loss of Paths write `by sublevel(box = …, grid = N)`",))
    module.memo[key] = opts
    return opts


def _members(module, sweep: str) -> int:
    s = module.sweeps[sweep]
    n = 1
    for b in s.bindings:
        dom = b.domain
        if isinstance(dom, A.ListExpr):
            n *= len(dom.items)
        elif isinstance(dom, A.Range):
            lo, hi = _literal(dom.start), _literal(dom.stop)
            n *= (hi - lo + 1) if isinstance(lo, int) and isinstance(hi, int) else 3
        else:
            n *= 3
    return n


def _landscape_jobs(plan, program, analysis, opts) -> None:
    from backends.torch.landscape import landscape_job
    from backends.torch.models import spec_json
    from backends.torch.plan import checkpoints_job, generator_job
    from catdsl.analysis import key_of

    name = key_of(analysis)
    subject = analysis.subject
    options = {k: opts[k] for k in SAMPLED}
    functor = program.sweeps[subject.name].functor if subject.kind == "sweep" else subject.name
    lf = program.functors[functor]
    model = json.loads(spec_json(lf.target.model))
    common = (model, json.loads(lf.target.data.to_json()), lf.target.loss)
    index: dict[str, str] = {}
    if subject.kind == "sweep":
        sweep = program.sweeps[subject.name]
        keys = list(plan.index[sweep.name].values())
        # a member that binds a data option (label_noise) is sampled on the data it trained on
        mine = lambda m: (model, json.loads((m.data or lf.target.data).to_json()), lf.target.loss)  # noqa: E731
        if opts["plane"] == "runs":
            states = [plan.jobs[k] for k in keys[:3]]
            options = {**options, "hessian": 0}
            index["runs"] = plan.add(landscape_job(states, *mine(sweep.members[0]), options, f"{name}: plane "
                                                   f"through {', '.join(j.label for j in states)}", (name, "runs")))
        else:
            for member, key in zip(sweep.members, keys):
                job = landscape_job([plan.jobs[key]], *mine(member), {**options, "hessian": opts["hessian"]},
                                    f"{name}: landscape of {plan.jobs[key].label}", (name, str(member.index)))
                index[f"{sweep.name}[{member.index}]"] = plan.add(job)
    else:
        part = subject.part
        presentation = lf.presentation
        label = f"{subject.name}.{part}"
        if part in presentation.generator:
            train = generator_job(plan, lf, part)
            if opts["plane"] == "pca":
                ck = checkpoints_job(plan, train)
                job = landscape_job([], *common, {**options, "hessian": 0}, f"{name}: PCA plane of {label}",
                                    (name, part), checkpoints=ck)
            else:
                job = landscape_job([train], *common, {**options, "hessian": 0},
                                    f"{name}: landscape of {label}", (name, part))
        else:
            state = plan.jobs[plan.index[subject.name][part]]
            job = landscape_job([state], *common, {**options, "hessian": 0}, f"{name}: landscape of {label}",
                                (name, part))
        index[label] = plan.add(job)
    plan.index[name] = index


def _gap(metrics: dict) -> dict:
    acc, train_acc = metrics.get("accuracy"), metrics.get("train_accuracy")
    loss, train_loss = metrics.get("loss"), metrics.get("train_loss")
    return {"gap": None if acc is None or train_acc is None else train_acc - acc,
            "loss_gap": None if loss is None or train_loss is None else loss - train_loss,
            "train_accuracy": train_acc, "test_accuracy": acc}


def _landscape_report(module, analysis, session) -> dict:
    import numpy as np

    from backends.persistence.sublevel import diagram
    from catdsl.analysis import key_of

    opts = landscape_options(module, analysis)
    p = math.inf if opts.get("p") == "inf" else float(opts.get("p", 1.0))
    name = key_of(analysis)
    store = session.store
    runs = {}
    for label, key in session.plan.index[name].items():
        stored = store.get(key)
        tensors = {k: v.numpy() for k, v in store.tensors(key).items()}
        axis = tensors["axis"]
        values = tensors[opts["metric"]]
        d = diagram(values, (axis, axis), opts.get("noise"))
        centre = np.unravel_index(int(np.argmin(np.abs(axis)[:, None] + np.abs(axis)[None, :])), values.shape)
        run = {"diagram": d.to_json(), "bars": d.bars_json(), **_summary(d, p, opts["essential"]),
               "centre": float(values[centre]), "sharpness": float(tensors["loss"].max() - tensors["loss"][centre]),
               "l2_norm": stored.metrics.get("l2_norm"), "hessian_trace": stored.metrics.get("hessian_trace"),
               "job": key, "method": stored.metrics.get("method"),
               "sampling_seconds": stored.metrics.get("sampling_seconds")}
        states = stored.spec.get("states") or []
        if len(states) == 1:
            run.update(_gap(store.get(states[0]).metrics))
        runs[label] = run
    out: dict[str, Any] = {"kind": "persistence", "method": "landscape",
                           "options": {k: opts[k] for k in (*SAMPLED, "metric", "essential")}}
    if analysis.subject.kind != "sweep" or opts["plane"] == "runs":
        (only,) = runs.values()
        out.update(only)
        return out
    out["runs"] = runs
    sweep = session.program.sweeps[analysis.subject.name]
    hyper = [dict(m.values) for m in sweep.members]
    out["statistics"] = _statistics(list(runs.values()), hyper)
    return out


MEASURES = ("total_persistence", "l2_norm", "sharpness", "hessian_trace")


def _statistics(runs: list[dict], hyper: list[dict]) -> dict:
    from backends.persistence.statistics import statistics

    gap = [r.get("gap") if r.get("gap") is not None else float("nan") for r in runs]
    loss_gap = [r.get("loss_gap") if r.get("loss_gap") is not None else float("nan") for r in runs]
    out = {}
    for m in MEASURES:
        values = [r.get(m) if r.get(m) is not None else float("nan") for r in runs]
        out[m] = {**statistics(values, gap, hyper), "loss_gap": statistics(values, loss_gap, hyper)}
    return out


# ---- text output --------------------------------------------------------------------------------


def _num(v, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "∞"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _bars_table(title: str, report: dict, console, limit: int = 20) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left",
                  caption="death -: the essential class (never dies); born at: the minimum (H0) or the point closing the loop (H1); dies at: the saddle (H0) or the point filling the loop (H1)",
                  caption_justify="left")
    for col in ("H", "birth", "death", "persistence", "born at", "dies at", "noise"):
        table.add_column(col, justify="right" if col not in ("born at", "dies at") else "left")
    bars = report["bars"]
    shown = [b for b in bars if not b["noise"]][:limit]
    for b in shown:
        table.add_row(str(b["dimension"]), _num(b["birth"]), _num(b["death"]), _num(b["persistence"]),
                      "(" + ", ".join(_num(x, 3) for x in b["born_at"]) + ")",
                      "-" if b["dies_at"] is None else "(" + ", ".join(_num(x, 3) for x in b["dies_at"]) + ")",
                      "yes" if b["noise"] else "")
    console.print(table)
    hidden = len(bars) - len(shown)
    essential = "excluded" if report["essential_convention"] == "exclude" else "truncated at the grid's maximum"
    console.print(f"total persistence {_num(report['total_persistence'])} (p = {_num(report['p']) if report['p'] else '∞'}, "
                  f"essential class {essential}, {report['noise_bars']} noise bar(s) excluded"
                  f"{f' and not shown' if hidden else ''}); loss range {_num(report['essential']['range'])}")


def _show(analysis, report: dict, console) -> None:
    from rich.table import Table

    from catdsl.analysis import key_of

    name = key_of(analysis)
    if report.get("method") == "sublevel":
        box = " × ".join(f"[{_num(lo)}, {_num(hi)}]" for lo, hi in report["box"])
        _bars_table(f"persistence {name}: sublevel sets of the loss on {box}, grid {report['grid']}",
                    report, console)
        return
    if "runs" not in report:
        _bars_table(f"persistence {name}: {report['options']['metric']} landscape, plane {report['options']['plane']}, "
                    f"grid {report['options']['grid']}, radius {report['options']['radius']}", report, console)
        return
    table = Table(title=f"persistence {name}: {report['options']['metric']} landscapes, plane "
                        f"{report['options']['plane']}, grid {report['options']['grid']}, radius "
                        f"{report['options']['radius']}", title_justify="left")
    for col in ("run", "H0 bars", "H1 bars", "total pers.", "gap (acc)", "ℓ2 norm", "sharpness", "Hessian tr."):
        table.add_column(col, justify="left" if col == "run" else "right")
    for label, r in report["runs"].items():
        table.add_row(label, str(sum(1 for b in r["bars"] if b["dimension"] == 0 and not b["noise"])),
                      str(sum(1 for b in r["bars"] if b["dimension"] == 1 and not b["noise"])),
                      _num(r["total_persistence"]), _num(r.get("gap")), _num(r.get("l2_norm")),
                      _num(r.get("sharpness")), _num(r.get("hessian_trace")))
    console.print(table)
    stats = Table(title=f"persistence {name}: each measure against the generalization gap (train − test accuracy)",
                  title_justify="left", caption="granulated τ: Kendall τ within each hyperparameter axis, averaged "
                  "(Jiang et al. 2020); partial: controlling for log lr and log batch", caption_justify="left")
    for col in ("measure", "n", "R²", "Pearson", "Spearman", "Kendall τ", "granulated τ", "partial r"):
        stats.add_column(col, justify="left" if col == "measure" else "right")
    for measure, s in report["statistics"].items():
        stats.add_row(measure, str(s["n"]), *(_num(s[k], 3) for k in ("r2", "pearson", "spearman", "kendall_tau",
                                                                        "granulated_tau", "partial")))
    console.print(stats)
