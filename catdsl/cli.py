"""The `catdsl` command: check | draw | fmt (and, through the backend registry, compile | run | runs | export).

Exit codes (docs/checking.md, "Verdicts and exit codes"): 0 every law holds, 1 some law is refuted/failed/conditional or
undecided, 2 the input has errors (syntax, names, types), 3 catdsl itself failed, 130
interrupted (Ctrl-C). No Python traceback reaches a user unless CATDSL_DEBUG=1.
"""

from __future__ import annotations

import argparse
import os
import sys

from catdsl import __version__

EXIT_OK, EXIT_LAWS, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports a process ended by SIGINT


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="catdsl",
        description="Check the laws of categories, functors and 2-cells written in .cat files.",
        epilog="exit codes: 0 all laws hold, 1 a law is refuted/failed/conditional/unknown, "
               "2 the input has errors, 3 catdsl failed",
    )
    ap.add_argument("--version", action="version", version=f"catdsl {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("check", help="prove or refute every law the files imply")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--format", choices=("text", "tsv", "json"), default="text",
                       help="text: a table (one line per obligation, unpadded, when not a terminal); tsv: "
                            "a header line and a tab-separated line per obligation; json: one document")
    check.add_argument("--only", action="append", default=[], metavar="NAME",
                       help="check only obligations whose name starts with NAME (repeatable)")
    check.add_argument("--seed", type=int, default=0, help="seed of the property tests")
    check.add_argument("--samples", type=int, default=200, help="property-test samples per law")
    check.add_argument("--report", metavar="DIR",
                       help="also write DIR/index.html: diagrams and obligations (an offline page)")
    _learning_flags(check)

    comp = sub.add_parser("compile", help="print the plan of training jobs a file implies (JSON)")
    comp.add_argument("file", metavar="FILE")
    comp.add_argument("--format", choices=("json",), default="json", help="json (the only format)")
    _learning_flags(comp)

    run = sub.add_parser("run", help="execute the plan, reusing every finished job in the store")
    run.add_argument("file", metavar="FILE")
    run.add_argument("--progress", action="store_true", help="show progress bars even when not a terminal")
    run.add_argument("--executor", default="local", metavar="NAME",
                     help="where the jobs run: local (in this process, the default), process (a pool of "
                          "--workers processes), ray (a Ray cluster at --address, else a local Ray)")
    run.add_argument("--workers", type=int, metavar="N",
                     help="process, ray: jobs at once, one worker process each (default: the CPUs)")
    run.add_argument("--address", metavar="auto|HOST:PORT",
                     help="ray: the cluster to join (default: start Ray on this machine)")
    run.add_argument("--format", choices=("text", "json"), default="text",
                     help="json: one object with every job and every analysis (docs/language.md §8.5)")
    run.add_argument("--exhaustive", action="store_true", help="classes: evaluate every pair of runs, not the adaptive order")
    run.add_argument("--report", metavar="DIR",
                     help="also write DIR/index.html: diagrams, jobs and analyses (an offline page)")
    run.add_argument("--plots", metavar="DIR",
                     help="also write each analysis's plots (PNG) into DIR: classes dendrograms and barrier "
                          "curves, persistence diagrams and landscapes")
    _learning_flags(run)

    runs = sub.add_parser("runs", help="list the finished jobs of a run store")
    runs.add_argument("--store", default=".catdsl", metavar="DIR")
    runs.add_argument("--file", metavar="FILE", help="only jobs that `catdsl run FILE` used")
    runs.add_argument("--kind", metavar="KIND", help="only jobs of this kind (init, train, checkpoints, …)")
    runs.add_argument("--label", metavar="TEXT", help="only jobs whose label contains TEXT")
    runs.add_argument("--format", choices=("text", "tsv", "json"), default="text",
                      help="text: a table (unwrapped when not a terminal); tsv: tab-separated, a header "
                           "line and a line per job; json: one object")

    export = sub.add_parser("export", help="write a trained state as safetensors plus its model spec (JSON)")
    export.add_argument("file", metavar="FILE")
    export.add_argument("label", metavar="STATE",
                        help="a state of the file: F.object (e.g. Run.trained), a sweep member S[i], or a job label")
    export.add_argument("--to", required=True, metavar="DIR", help="folder to write model.safetensors and model.json into")
    _learning_flags(export)

    draw = sub.add_parser("draw", help="draw every presentation and functor as a commutative diagram")
    draw.add_argument("file", metavar="FILE")
    draw.add_argument("--to", choices=("tikz", "svg", "png"), default="tikz",
                      help="tikz: tikz-cd snippets (stdout); svg: one SVG (stdout) or a file per diagram "
                           "with --out; png: a file per diagram (needs --out; drawn with matplotlib)")
    draw.add_argument("--out", metavar="DIR", help="write one file per diagram into DIR and print their paths")
    draw.add_argument("--only", action="append", default=[], metavar="NAME",
                      help="draw only the presentation or functor NAME (repeatable)")
    draw.add_argument("--standalone", action="store_true", help="tikz: a whole LaTeX document, not snippets")
    draw.add_argument("--import-root", metavar="DIR",
                      help="folder imports are read from (default: the folder of the file)")

    fmt = sub.add_parser("fmt", help="print the canonical form of .cat files")
    fmt.add_argument("files", nargs="+", metavar="FILE", help="`-` reads standard input")
    fmt.add_argument("--check", action="store_true",
                     help="print nothing; exit 1 when a file is not in canonical form")
    fmt.add_argument("--write", action="store_true", help="rewrite the files in place")
    fmt.add_argument("--unicode", action="store_true", help="print → ↦ ⇒ ∘ ≫ ⊕ ⊣ instead of -> |-> => . >> (+) -|")
    fmt.add_argument("--format", choices=("text", "json"), default="text",
                     help="format of diagnostics")
    return ap


def _learning_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", metavar="DIR", help="run store (default: .catdsl/ beside the file)")
    p.add_argument("--import-root", metavar="DIR",
                   help="folder imports are read from (default: the folder of the file)")
    p.add_argument("--device", default="auto", help="cpu, cuda, or auto (cuda when available)")
    p.add_argument("--max-epochs", type=int, default=50, help="limit on epochs per training segment")
    p.add_argument("--max-runs", type=int, default=128, help="limit on runs in one sweep")
    p.add_argument("--max-params", type=int, default=5_000_000, help="limit on model parameters")
    p.add_argument("--max-probe", type=int, default=2048, help="limit on the probe set of Rep")
    p.add_argument("--max-file-size", type=int, metavar="BYTES",
                   help="limit on the size of the file and of each import (default 262,144)")
    p.add_argument("--max-size", type=int, default=2048,
                   help="limit on a dimension or a finite set's size in a value (Vect, FinSet)")
    p.add_argument("--max-grid", type=int, default=1_000_000, help="limit on the points of a persistence grid")


def _hand_settings(module, args) -> None:
    """Give the backends the resource limits and the run store of the command line."""
    module.memo["limits"] = {"epochs": args.max_epochs, "runs": args.max_runs,
                             "params": args.max_params, "probe": args.max_probe,
                             "grid": args.max_grid, "size": args.max_size}
    module.memo["store"] = getattr(args, "store", None)
    module.memo["exhaustive"] = getattr(args, "exhaustive", False)


def entry() -> None:
    """The `catdsl` console script: `main`, then exit with its code. A process that imported
    torch (a run that computed) ends without the interpreter's teardown, which frees torch's
    objects one by one (0.35–0.45 s of a `catdsl run`, measured): its exit handlers still run
    first (the process pool's and Ray's workers are let go, files closed), the output is
    flushed, and only a process with no other non-daemon thread left ends at once."""
    code = main()
    if "torch" in sys.modules:
        import atexit
        import threading

        atexit._run_exitfuncs()  # what the interpreter would run next; it leaves none registered
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a reader that left, a closed stream: nothing to lose
                pass
        if all(t.daemon or t is threading.main_thread() for t in threading.enumerate()):
            os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "fmt":
            return _fmt(args)
        if args.command == "check":
            return _check(args)
        if args.command == "draw":
            return _draw(args)
        return _backend_command(args)
    except BrokenPipeError:  # `catdsl … | head`: the reader left; that is not an error
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # a bug in catdsl: say so plainly, keep the traceback for debugging
        if os.environ.get("CATDSL_DEBUG"):
            raise
        print(f"catdsl: internal error: {type(e).__name__}: {e}\n"
              "  (set CATDSL_DEBUG=1 to see the traceback, and please report it)", file=sys.stderr)
        return EXIT_INTERNAL


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _report_diagnostics(err, sources: dict[str, str], fmt: str) -> int:
    from catdsl import diagnostics

    sources = {**sources, **getattr(err, "sources", {})}
    if fmt == "json":
        print(diagnostics.to_json(err.diagnostics))
    else:
        print(diagnostics.render_all(err.diagnostics, sources), file=sys.stderr)
        n = len(err.diagnostics)
        print(f"{n} error{'s' if n != 1 else ''}", file=sys.stderr)
    return EXIT_INPUT


def _load(path: str, import_root: str | None = None, max_bytes: int | None = None):
    """Read, parse and elaborate; returns (module | None, text, DiagnosticError | None). A file
    over `max_bytes` (`--max-file-size`) is E401 before it is read: parsing is what it costs."""
    from catdsl.diagnostics import Diagnostic, DiagnosticError
    from catdsl.semantics.elaborate import MAX_FILE_BYTES, elaborate
    from catdsl.span import Span
    from catdsl.syntax.parse import parse

    limit = max_bytes or MAX_FILE_BYTES
    try:
        size = os.stat(path).st_size
        if size > limit:
            return None, "", DiagnosticError([Diagnostic(
                "E401", f"`{path}` has {size:,} bytes, over the limit of {limit:,}", Span(path, 1, 1, 1, 1),
                hints=("raise it with --max-file-size N (parsing reads about 30,000 tokens a second)",))])
        text = _read(path)
    except (OSError, UnicodeDecodeError) as e:
        msg = getattr(e, "strerror", None) or str(e)
        return None, "", DiagnosticError([Diagnostic("E901", f"cannot read `{path}`: {msg}",
                                                     Span(path, 1, 1, 1, 1))])
    try:
        return elaborate(parse(text, path), path, text, import_root, limit), text, None
    except DiagnosticError as err:
        return None, text, err


def _validate(module) -> list:
    """Static problems a semantic category finds in the values given to it (E3xx, E4xx), and
    analyses without a handler or with options their handler rejects."""
    from catdsl import analysis, backend

    names = {F.target.name for F in module.functors.values() if not isinstance(F.target, str)}
    found = []
    for name in sorted(names):
        hook = getattr(backend.load(name), "validate", None)
        if hook is not None:
            found.extend(d for d in hook(module) if d not in found)
    found.extend(d for d in analysis.validate(module) if d not in found)
    return found


def _backend_command(args) -> int:
    from catdsl import backend
    from catdsl.diagnostics import DiagnosticError

    if args.command == "runs":
        try:
            return backend.command("runs")(args)
        except DiagnosticError as err:  # a store that cannot be read (E902)
            return _report_diagnostics(err, {}, "text")
    try:  # what the command starts before the file is read (`run --executor process`: its workers' server)
        getattr(backend.command(args.command), "start_early", lambda args: None)(args)
    except LookupError:
        pass  # said when the command is called
    module, text, err = _load(args.file, getattr(args, "import_root", None), getattr(args, "max_file_size", None))
    if err is not None:
        return _report_diagnostics(err, {args.file: text}, "text")
    _hand_settings(module, args)
    from catdsl import analysis

    problems = analysis.validate(module)  # an analysis without a handler never runs silently
    if problems:
        return _report_diagnostics(DiagnosticError(problems), module.sources or {args.file: text}, "text")
    if getattr(args, "report", None):
        if not _report_folder_ok(args):
            return EXIT_INPUT
        from catdsl import html_report

        # the torch backend hands `run --format json`'s data to this callable (docs/architecture.md)
        args.on_report = lambda data: print(
            f"report: {html_report.write(args.report, [html_report.Entry(module, run=data)])}", file=sys.stderr)
    try:
        return backend.command(args.command)(module, args)
    except DiagnosticError as err:
        return _report_diagnostics(err, module.sources or {args.file: text}, "text")


def _report_folder_ok(args) -> bool:
    """`--report DIR` is refused before any work when DIR holds something other than a report."""
    from catdsl import html_report

    try:
        html_report.prepare(args.report)
        return True
    except html_report.ReportFolderError as e:
        print(f"catdsl {args.command}: --report: {e}", file=sys.stderr)
        return False


def _check(args) -> int:
    """Check every file; a file with static errors is reported (exit 2) and the others still run.

    All files are read, validated and their laws selected before any law is discharged, so that
    an `--only` name that selects nothing in any file is an error before any work is done."""
    from catdsl.diagnostics import Diagnostic, DiagnosticError
    from catdsl.laws import report
    from catdsl.laws.discharge import discharge
    from catdsl.laws.options import Options
    from catdsl.span import Span

    options = Options(seed=args.seed, samples=args.samples, store=args.store)
    if args.report and not _report_folder_ok(args):
        return EXIT_INPUT
    prepared, codes = [], []
    entries: dict[int, dict] = {}  # --format json: each file's entry, in command-line order
    for index, path in enumerate(args.files):
        module, text, err = _load(path, getattr(args, "import_root", None), getattr(args, "max_file_size", None))
        selection = None
        if err is None:
            _hand_settings(module, args)
            problems = _validate(module)
            if not problems:
                selection, all_laws = _selection(module, options, args.only)
                problems = list(selection.diagnostics)
            if problems:
                err = DiagnosticError(problems)
        if err is not None:
            sources = {path: text, **(module.sources if module is not None else {})}
            if args.format == "json":  # into the one document, never a second one
                entries[index] = report.diagnostics_entry(path, err.diagnostics)
                codes.append(EXIT_INPUT)
            else:
                codes.append(_report_diagnostics(err, sources, "text"))
            continue
        prepared.append((module, selection, all_laws, index))
    unmatched = [n for n in args.only if not any(law.name.startswith(n) for _, _, laws, _ in prepared for law in laws)]
    if unmatched and prepared:
        from catdsl.laws.options import nearest

        problems = [Diagnostic("E221", f"`--only {n}` selects no obligation", Span(prepared[0][0].file, 1, 1, 1, 1),
                               hints=nearest(n, [law for _, _, laws, _ in prepared for law in laws]))
                    for n in unmatched]
        if args.format == "json":  # nothing was checked: each file with no entry yet, and the problems
            for module, _, _, index in prepared:
                entries[index] = report.diagnostics_entry(module.file, [])
            print(report.render_json(report.document([entries[i] for i in sorted(entries)], problems)))
            return EXIT_INPUT
        return max(codes + [_report_diagnostics(DiagnosticError(problems), {}, "text")])
    console = None
    terminal = sys.stdout.isatty()
    if args.format == "text":
        from rich.console import Console

        # piped or redirected: never wrapped at 80 columns (report.print_table)
        console = Console(highlight=False, width=None if terminal else 1_000_000)
    elif args.format == "tsv":
        print("\t".join(report.TSV_COLUMNS))
    pages = []
    for module, selection, _, index in prepared:
        results = [discharge(law, module, opts) for law, opts in selection.laws]
        codes.append(report.exit_code(results))
        if console is not None:
            report.print_table(module.file, results, console, terminal)
        elif args.format == "tsv":
            for line in report.tsv_lines(module.file, results):
                print(line)
        else:
            entries[index] = report.to_json(module.file, results)
        pages.append((module, results))
    if args.format == "json":
        print(report.render_json(report.document([entries[i] for i in sorted(entries)])))
    if args.report and pages:
        from catdsl import html_report

        entries = [html_report.Entry(m, check=report.to_json(m.file, results)) for m, results in pages]
        print(f"report: {html_report.write(args.report, entries)}", file=sys.stderr)
    return max(codes, default=EXIT_OK)


def _draw(args) -> int:
    """`catdsl draw FILE`: tikz-cd snippets or one SVG on stdout, or a file per diagram in --out."""
    from catdsl.diagnostics import DiagnosticError
    from catdsl.draw import diagrams, document, scene_of

    module, text, err = _load(args.file, args.import_root)
    if err is None:
        module.memo["no_store"] = True  # drawing reads a learning file's data, never makes a run store
        problems = _validate(module)
        if problems:
            err = DiagnosticError(problems)
    if err is not None:
        return _report_diagnostics(err, {args.file: text, **(module.sources if module is not None else {})}, "text")
    found = diagrams(module, tuple(args.only))
    missing = [n for n in args.only if not any(d.name == n for d in found)]
    if missing:
        known = ", ".join(list(module.presentations) + list(module.functors)) or "none"
        print(f"catdsl draw: no presentation or functor named {', '.join(missing)} (known: {known})", file=sys.stderr)
        return EXIT_INPUT
    if args.out is None:
        if args.to == "png":
            print("catdsl draw: --to png writes files: give --out DIR", file=sys.stderr)
            return EXIT_INPUT
        if args.to == "svg":
            from catdsl.draw.svg import to_svg

            sys.stdout.write(to_svg(scene_of(found)))
        else:
            snippets = [d.tikz() for d in found]
            sys.stdout.write(document(snippets) if args.standalone else "\n".join(snippets))
        return EXIT_OK
    from pathlib import Path

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for d in found:
        path = out / f"{d.name}.{'tex' if args.to == 'tikz' else args.to}"
        if args.to == "png":
            d.png(str(path))
        else:
            body = d.svg() if args.to == "svg" else (document([d.tikz()]) if args.standalone else d.tikz())
            path.write_text(body, encoding="utf-8")
        print(path)
    return EXIT_OK


def _selection(module, options, only):
    """The module's laws, and those selected with their options (`catdsl.laws.options`)."""
    from catdsl.laws.catalogue import obligations
    from catdsl.laws.options import select

    laws = obligations(module)
    return select(module, laws, options, tuple(only)), laws


def _fmt(args) -> int:
    from catdsl.diagnostics import DiagnosticError
    from catdsl.syntax.parse import parse_with_comments
    from catdsl.syntax.printer import to_text, unicode_spelling

    changed = False
    for path in args.files:
        try:
            text = sys.stdin.read() if path == "-" else _read(path)
        except (OSError, UnicodeDecodeError) as e:
            from catdsl.diagnostics import Diagnostic
            from catdsl.span import Span

            err = DiagnosticError([Diagnostic("E901", f"cannot read `{path}`: {getattr(e, 'strerror', None) or e}",
                                              Span(path, 1, 1, 1, 1))])
            return _report_diagnostics(err, {}, args.format)
        try:
            tree, comments = parse_with_comments(text, path)
        except DiagnosticError as err:
            return _report_diagnostics(err, {path: text}, args.format)
        out = to_text(tree, comments)
        if args.unicode:
            out = unicode_spelling(out)
        if out != text:
            changed = True
        if args.check:
            if out != text:
                print(f"{path}: not in canonical form", file=sys.stderr)
        elif args.write and path != "-":
            if out != text:
                tmp = path + ".fmt-tmp"
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(out)
                os.replace(tmp, path)
        else:
            sys.stdout.write(out)
    return EXIT_LAWS if (args.check and changed) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
