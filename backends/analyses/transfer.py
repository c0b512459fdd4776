"""The `transfer` analysis handler (docs/architecture.md, "Analyses"; docs/language.md §8.9):
`transfer T = pullback(source = Run.f, along = adapter(…), data = D)` trains the pullback
φ_T = φ_S ∘ f and its baselines (`backends.torch.transfer`) and checks `T.universal`;
`fedavg(…)` and `multitask(…)` merge client models (a colimit, `M.cocone`) and train a shared
trunk with task heads (a limit, `MT.limit`) (`backends.torch.merge`, §8.10); `fibre(…)` computes
the ε-fibre product of two representations with model stitching (`P.universal`;
`backends.torch.fibre`, §8.14)."""

from __future__ import annotations

from catdsl.diagnostics import Diagnostic

METHOD_ORDER = ("pullback", "fine_tune", "linear_probe", "scratch")
MERGES = ("fedavg", "multitask")  # limits and colimits of learners: backends.torch.merge
FIBRES = ("fibre",)  # the numeric pullback of two representations: backends.torch.fibre


def _other(method: str):
    """The module of a method that is not the adapter pullback (None for `pullback`)."""
    if method in MERGES:
        from backends.torch import merge

        return merge
    if method in FIBRES:
        from backends.torch import fibre

        return fibre
    return None


class Transfer:
    @staticmethod
    def validate(module, analysis) -> list[Diagnostic]:
        from backends.torch.transfer import validate

        other = _other(analysis.method)
        if other is not None:
            return validate(module, analysis, read=other.read)
        return validate(module, analysis)

    @staticmethod
    def laws(module, analysis) -> list:
        other = _other(analysis.method)
        if other is not None:
            return other.laws(module, analysis)
        from backends.torch.transfer import laws

        return laws(module, analysis)

    @staticmethod
    def jobs(plan, program, analysis) -> None:
        from backends.torch.transfer import add_jobs, read_transfer

        other = _other(analysis.method)
        if other is not None:
            other.add_jobs(plan, program, other.read(program.module, program, analysis))
            return

        add_jobs(plan, program, read_transfer(program.module, program, analysis))

    @staticmethod
    def report(analysis, session) -> dict:
        """`{"kind": "transfer", "methods": {method: {"accuracy", "seconds", "trainable_fraction", …}},
        "universal": {"verdict", "residual", …}}`, read from the finished jobs of the run."""
        from backends.torch.transfer import UNIVERSAL_TOL, read_transfer, universal_of, verdict

        other = _other(analysis.method)
        if other is not None:
            return other.report(analysis, session)
        spec = read_transfer(session.program.module, session.program, analysis)
        methods = {}
        for method, key in session.plan.index[analysis.name].items():
            m = session.store.get(key).metrics
            methods[method] = {k: m.get(k) for k in ("accuracy", "seconds", "trainable_fraction", "trainable",
                                                     "parameters", "train_accuracy", "loss")}
        pullback = session.store.get(session.plan.index[analysis.name]["pullback"]).metrics
        u = universal_of(session, analysis.name)
        v = verdict(u, UNIVERSAL_TOL)
        return {"kind": "transfer", "source": f"{spec.functor}.{spec.part}", "data": spec.target_name,
                "adapter": spec.adapter.to_obj(), "head": spec.head,
                "optimizer": {"name": spec.optimizer.name, "lr": spec.optimizer.lr, "batch": spec.optimizer.batch,
                              "epochs": spec.optimizer.epochs, "seed": spec.optimizer.seed},
                "source_alone": pullback.get("source_alone"),
                "methods": methods,
                "universal": {"verdict": v.word(), "residual": u.residual, "uniqueness": u.uniqueness,
                              "control": u.control, "cones": u.cones, "probe": u.probe, "tol": UNIVERSAL_TOL}}

    @staticmethod
    def show(analysis, report, console) -> None:
        from rich.table import Table
        from rich.text import Text

        other = _other(analysis.method)
        if other is not None:
            return other.show(analysis, report, console)

        def number(v, fmt="{:.4f}"):
            return "-" if v is None else fmt.format(v)

        adapter = report["adapter"]
        where = f"{adapter['kind']}{'' if adapter['kind'] == 'linear' else ' rank ' + str(adapter['rank'])} " \
                f"adapter at the {adapter['at']}"
        opt = report["optimizer"]
        table = Table(title=f"transfer {analysis.name} = pullback of {report['source']} to {report['data']} "
                            f"along a {where} ({opt['name']}, lr {opt['lr']:g}, {opt['epochs']} epochs, "
                            f"batch {opt['batch']}; head: {report['head']})", title_justify="left")
        for col in ("method", "test acc", "seconds", "trainable", "fraction", "vs fine-tune"):
            table.add_column(col, justify="left" if col == "method" else "right")
        methods = report["methods"]
        tuned = methods.get("fine_tune", {}).get("accuracy")
        for method in sorted(methods, key=lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else 99):
            m = methods[method]
            ratio = None if not tuned or m["accuracy"] is None else m["accuracy"] / tuned
            table.add_row(Text(method), number(m["accuracy"]), number(m["seconds"], "{:.3f}"),
                          f"{m['trainable']:,}" if m.get("trainable") is not None else "-",
                          number(m["trainable_fraction"], "{:.2%}"), number(ratio, "{:.1%}"))
        console.print(table)
        u = report["universal"]
        alone = report.get("source_alone")
        if alone is not None:
            console.print(f"{analysis.name}: the source model alone scores {alone:.4f} on {report['data']}")
        console.print(f"{analysis.name}.universal: {u['verdict']} ({u['cones']} cones on {u['probe']} probe points: "
                      f"residual {u['residual']:.3g}, uniqueness {u['uniqueness']:.3g}, non-cone control "
                      f"{u['control']:.3g})")
