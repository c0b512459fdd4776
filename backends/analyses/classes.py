"""The `classes` analysis handler (docs/architecture.md, "Analyses"; docs/language.md §8.7).

`classes C of X by homotopy(…)` is one of two things, by its subject:

- X a functor into `Paths(loss = …, level = …)`: the classes of X's parallel generators under
  homotopy relative to the endpoints inside {loss <= level} (`backends.symbolic.homotopy`: exact
  in 2-D, a certificate elsewhere). Options `level` (default: the Paths level) and `grid`. No
  torch is imported for it.
- X a sweep: its runs joined when the barrier between their final states is at most `level`,
  classes the connected components (`backends.torch.homotopy`, `backends.torch.barrier`).
  Options `level` (required), `path = linear | bezier`, `points`, `align`, `metric = loss |
  error`, `split = train | test`, `epochs` (of a Bezier connector), `affine = true | false` (the
  2-functor check, `backends.torch.two_functor`: per-stage affine maps within vs across classes).

Its report is the `analyses` entry of `catdsl run --format json` and a table of the classes.
"""

from __future__ import annotations

import statistics

from catdsl.diagnostics import Diagnostic

PATHS_OPTIONS = ("level", "grid")
SWEEP_OPTIONS = ("level", "path", "points", "align", "metric", "split", "epochs", "affine")
SWEEP_DEFAULTS = {"path": "linear", "points": 17, "align": False, "metric": "loss", "split": "train", "epochs": 5}
# `affine`: the 2-functor check (backends/torch/two_functor.py); None: on when a Rep functor
# follows the sweep's functor into Param (its layer and probe are used), else off


class _Bad(Exception):
    def __init__(self, message: str, node, *hints: str):
        super().__init__(message)
        self.message, self.node, self.hints = message, node, hints


def _is_paths_functor(module, analysis) -> bool:
    from catdsl.backend import SemanticRef

    F = module.functors.get(analysis.subject.name)
    return (analysis.subject.kind == "functor" and F is not None and isinstance(F.target, SemanticRef)
            and F.target.name == "Paths")


def _keyword_spans(analysis) -> dict:
    from catdsl.syntax import ast as A

    method = analysis.statement.method
    args = method.args if isinstance(method, A.Call) else ()
    return {a.name: a.span for a in args if isinstance(a, A.Keyword)}


def _number(node, what: str) -> float:
    from catdsl.syntax import ast as A

    match node:
        case A.Number(text=t):
            return float(t) if any(c in t for c in ".eE") else int(t)
        case A.Neg(operand=A.Number() as inner):
            return -_number(inner, what)
    raise _Bad(f"`{what}` must be a number", node)


def _integer(node, what: str, least: int) -> int:
    value = _number(node, what)
    if not isinstance(value, int) or value < least:
        raise _Bad(f"`{what}` must be an integer of at least {least}, not {_text(node)}", node)
    return value


def _word(node, what: str, choices: tuple) -> str | bool:
    from catdsl.syntax import ast as A

    if isinstance(node, A.Name) and node.id in [str(c).lower() for c in choices]:
        return {"true": True, "false": False}.get(node.id, node.id)
    raise _Bad(f"`{what}` must be {' or '.join(str(c).lower() for c in choices)}, not `{_text(node)}`", node)


def _text(node) -> str:
    from catdsl.syntax.printer import expr

    return expr(node)


def _positive_level(value: float, node) -> float:
    if not value > 0:
        raise _Bad(f"`level` must be positive, not {_text(node)}", node,
                   "a barrier or a loss level is a height above zero")
    return float(value)


def sweep_options(analysis) -> dict:
    """The options of `classes … of S by homotopy(…)`, checked; raises _Bad at the bad value."""
    from backends.torch.barrier import METRICS, PATHS, SPLITS

    got = {**SWEEP_DEFAULTS, "affine": None}
    for name, node in analysis.arguments:
        if name == "level":
            got["level"] = _positive_level(_number(node, "level"), node)
        elif name == "points":
            got["points"] = _integer(node, "points", 2)
        elif name == "epochs":
            got["epochs"] = _integer(node, "epochs", 1)
        elif name == "path":
            got["path"] = _word(node, "path", PATHS)
        elif name == "metric":
            got["metric"] = _word(node, "metric", METRICS)
        elif name == "split":
            got["split"] = _word(node, "split", SPLITS)
        elif name == "align":
            got["align"] = _word(node, "align", (True, False))
        elif name == "affine":
            got["affine"] = _word(node, "affine", (True, False))
    return got


def paths_options(module, analysis) -> dict:
    from backends.symbolic.build import Env, to_sympy

    got = {"level": None, "grid": None}
    for name, node in analysis.arguments:
        if name == "level":
            value = to_sympy(node, Env.of_params(*module.params))
            if not getattr(value, "is_number", False) or not value.is_real:
                raise _Bad("`level` must be a real number", node)
            got["level"] = _positive_level(float(value), node)
        elif name == "grid":
            got["grid"] = _integer(node, "grid", 16)
    return got


class Classes:
    @staticmethod
    def validate(module, analysis) -> list[Diagnostic]:
        if analysis.method != "homotopy":
            return [Diagnostic("E222", f"`classes` has no method `{analysis.method}`",
                               getattr(analysis.statement.method, "span", analysis.span),
                               hints=("write `classes C of S by homotopy(level = …)`",))]
        spans = _keyword_spans(analysis)
        if analysis.subject.kind == "sweep":
            known, code = SWEEP_OPTIONS, "E404"
        elif _is_paths_functor(module, analysis):
            known, code = PATHS_OPTIONS, "E311"
            if module.functors[analysis.subject.name].target.kwarg("loss") is None:
                return [Diagnostic("E311", f"homotopy classes of `{analysis.subject.name}` need a loss and a level",
                                   analysis.subject.span,
                                   hints=("map it into `Paths(loss = (x, y) |-> …, level = …)`: without a "
                                          "level every two paths of R^n are homotopic",))]
        else:
            what = {"functor": "a functor into `Paths(loss = …)` or a sweep",
                    "part": "a sweep or a functor, not a part of one"}.get(analysis.subject.kind, "")
            return [Diagnostic("E222", f"`classes … by homotopy` is of a sweep or a functor into "
                               f"`Paths(loss = …, level = …)`; `{_text_of_subject(analysis)}` is not",
                               analysis.subject.span, hints=(f"name {what}",) if what else ())]
        found = []
        for name, _ in analysis.arguments:
            if name not in known:
                found.append(Diagnostic(code, f"`homotopy` has no option `{name}` here", spans.get(name, analysis.span),
                                        hints=(f"its options are {', '.join(known)}",)))
        if found:
            return found
        try:
            if code == "E404":
                if analysis.argument("level") is None:
                    raise _Bad("the classes of a sweep need a `level`: the largest barrier that joins two runs",
                               analysis.statement.method,
                               "e.g. `homotopy(level = 0.02, metric = error)` (Frankle et al. 2020's 2 %)")
                sweep_options(analysis)
            else:
                paths_options(module, analysis)
        except _Bad as e:
            return [Diagnostic(code, e.message, getattr(e.node, "span", analysis.span), hints=e.hints)]
        return []

    @staticmethod
    def laws(module, analysis) -> list:
        return []

    @staticmethod
    def jobs(plan, program, analysis) -> None:
        if analysis.subject.kind != "sweep" or analysis.subject.name not in program.sweeps:
            return None
        from backends.torch.align import mlp_linears
        from backends.torch.barrier import PathSpec
        from backends.torch.homotopy import sweep_classes
        from backends.torch.program import ProgramError
        from catdsl.analysis import key_of

        options = sweep_options(analysis)
        sweep = program.sweeps[analysis.subject.name]
        lf = program.functors[sweep.functor]
        if options["align"] and mlp_linears(lf.target.model) is None:
            raise ProgramError([Diagnostic(
                "E404", f"`align = true` permutes the hidden units of MLPs; `{lf.target.model_name}` is not one",
                analysis.argument("align").span,
                hints=("weight matching is implemented for chains of Linear layers and elementwise activations; "
                       "use `align = false`",))])
        spec = PathSpec(**{k: options[k] for k in SWEEP_DEFAULTS})
        labels = [f"{sweep.name}[{m.index}]" for m in sweep.members]
        key = key_of(analysis)
        job = sweep_classes(plan, sweep.name, labels, options["level"], spec,
                            bool(program.module.memo.get("exhaustive")), f"classes {key} of {sweep.name}")
        plan.index[key] = {"classes": job.key}
        affine = options["affine"]
        if affine or (affine is None and any(r.base == sweep.functor for r in program.reps.values())):
            from backends.torch.two_functor import two_functor_job

            plan.index[key]["affine"] = two_functor_job(plan, program, sweep, job, None, None,
                                                        f"affine maps of classes {key} of {sweep.name}").key
        return None

    @staticmethod
    def report(analysis, session) -> dict:
        if analysis.subject.kind == "sweep":
            return _sweep_report(analysis, session)
        return _paths_report(analysis, session.program.module)

    @staticmethod
    def show(analysis, report, console) -> None:
        from rich.table import Table
        from rich.text import Text

        from catdsl.analysis import key_of

        name = key_of(analysis)
        if report.get("method") in ("winding", "certificate"):
            table = Table(title=f"classes {name} of {report['of']}: homotopy in {{loss <= {report['level']:g}}} "
                                f"({report['method']}{'' if report['exact'] else ', not exact'})",
                          title_justify="left")
            for col in ("class", "size", "members"):
                table.add_column(col, justify="left" if col == "members" else "right")
            for i, members in enumerate(report["classes"]):
                table.add_row(str(i + 1), str(len(members)), Text(", ".join(members)))
            console.print(table)
            if report["outside"]:
                console.print(f"{name}: not in the sublevel set (no class): {', '.join(report['outside'])}")
            if report["undecided"]:
                console.print(f"{name}: undecided pairs (no certificate): "
                              f"{', '.join(' ~ '.join(p) for p in report['undecided'])}")
            return
        table = Table(title=f"classes {name} of {report['of']}: barrier <= {report['level']:g} "
                            f"({report['metric']} on {report['split']}, {report['path']} path, {report['points']} points, "
                            f"{'aligned' if report['aligned'] else 'not aligned'})", title_justify="left",
                      caption=f"{report['evaluations']} of {report['pairs']} pairs evaluated ({report['order']}); "
                              "test accuracy per class: mean, sd, max − min", caption_justify="left")
        for col in ("class", "size", "members", "acc mean", "acc sd", "max − min"):
            table.add_column(col, justify="left" if col == "members" else "right")
        for i, (members, stats) in enumerate(zip(report["classes"], report["class_accuracy"])):
            shown = ", ".join(members) if len(members) <= 8 else ", ".join(members[:8]) + f", … (+{len(members) - 8})"
            table.add_row(str(i + 1), str(len(members)), Text(shown), _f(stats["mean"]), _f(stats["sd"]),
                          _f(stats["spread"]))
        console.print(table)
        affine = report.get("two_functor")
        if affine:
            w, a = affine["within"], affine["across"]
            console.print(f"{name}: affine maps between the runs' representations (layer {affine['layer']}, "
                          f"{affine['probe']} probe points, residual held out per epoch): within classes "
                          f"{_f(w['mean'])} over {w['count']} pair(s), across classes {_f(a['mean'])} over "
                          f"{a['count']} pair(s)" + (" (degenerate: no more fitted points than features)"
                                                     if affine["degenerate"] else ""))

    @staticmethod
    def plots(analysis, report, session, directory) -> list:
        """A sweep's dendrogram and barrier curves (`backends/torch/homotopy_plots.py`)."""
        if analysis.subject.kind != "sweep":
            return []
        from backends.torch.homotopy_plots import barrier_curves, plot_classes
        from catdsl.analysis import key_of

        key = session.plan.index[key_of(analysis)]["classes"]
        return plot_classes(key_of(analysis), report, directory, barrier_curves(session.store, key))


def _f(v) -> str:
    return "-" if v is None else f"{v:.4f}"


def _text_of_subject(analysis) -> str:
    s = analysis.subject
    return f"{s.name}.{s.part}" if s.part else s.name


def accuracy_stats(values: list[float]) -> dict:
    """mean, sd (0 for one run) and max − min of a class's test accuracies."""
    if not values:
        return {"mean": None, "sd": None, "spread": None}
    return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "spread": max(values) - min(values)}


def _sweep_report(analysis, session) -> dict:
    from catdsl.analysis import key_of

    options = sweep_options(analysis)
    key = session.plan.index[key_of(analysis)]["classes"]
    job = session.plan.jobs[key]
    m = session.store.get(key).metrics
    labels = job.spec["labels"]
    accuracy = {labels[i]: session.store.get(k).metrics.get("accuracy") for i, k in enumerate(job.spec["members"])}
    classes = [[labels[i] for i in c] for c in m["classes"]]
    barriers = {}
    for pair, v in m["barriers"].items():
        i, j = map(int, pair.split(","))
        barriers[f"{labels[i]} ~ {labels[j]}"] = v
    return {"kind": "classes", "of": analysis.subject.name, "classes": classes, "level": options["level"],
            "path": options["path"], "points": options["points"], "aligned": options["align"],
            "metric": options["metric"], "split": options["split"], "order": m["order"],
            "evaluations": m["evaluations"], "pairs": m["pairs"], "accuracy": accuracy,
            "class_accuracy": [accuracy_stats([accuracy[x] for x in c if accuracy[x] is not None]) for c in classes],
            "barriers": barriers,
            **({"two_functor": session.store.get(session.plan.index[key_of(analysis)]["affine"]).metrics}
               if "affine" in session.plan.index[key_of(analysis)] else {})}


def _paths_report(analysis, module) -> dict:
    from backends.symbolic.homotopy import GRID, path_classes
    from backends.symbolic.laws import interpretation

    options = paths_options(module, analysis)
    I = interpretation(module, analysis.subject.name)
    cells = {}
    for c in I.presentation.cells:
        if c.name in I.cells and len(c.source.word) == 1 and len(c.target.word) == 1:
            cells[(c.source.word[0], c.target.word[0])] = I.cells[c.name]
    found = path_classes(I.cat, dict(I.arrows), cells, options["level"], options["grid"] or GRID)
    return {"kind": "classes", "of": analysis.subject.name, **found.to_json(), "path": "given",
            "aligned": False, "evaluations": None, "pairs": None}
