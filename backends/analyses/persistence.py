"""The `persistence` analysis handler (docs/architecture.md, "Analyses"). Nothing computes it yet."""

from __future__ import annotations

from catdsl.diagnostics import Diagnostic


class Persistence:
    @staticmethod
    def validate(module, analysis) -> list[Diagnostic]:
        what = f"`{analysis.kind} {analysis.name}`" if analysis.name else f"`{analysis.kind}`"
        return [Diagnostic("E215", f"{what} is not supported yet: nothing computes "
                           f"`{analysis.kind} … by {analysis.method}`", analysis.span,
                           hints=("the statement is parsed and its names are resolved; remove it to run the rest",))]

    @staticmethod
    def laws(module, analysis) -> list:
        return []

    @staticmethod
    def jobs(plan, program, analysis) -> None:
        return None

    @staticmethod
    def report(analysis, session) -> dict:
        return {"kind": analysis.kind}

    @staticmethod
    def show(analysis, report, console) -> None:
        return None
