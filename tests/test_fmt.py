"""The printer behind `catdsl fmt`: parse ∘ print = id on generated trees, idempotence,
comments kept, and the canonical form (ASCII spellings, applicative composites, one
declaration per line, blank lines around blocks)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catdsl.cli import main
from catdsl.syntax import ast as A
from catdsl.syntax.parse import _handle, parse, parse_with_comments
from catdsl.syntax.printer import _COMPOSE, _OPLUS, _POSTFIX, _RANGE, _UNARY
from catdsl.syntax.printer import expr, precedence, string_literal, to_text
from catdsl.syntax.strategies import expressions, source_files

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.data_too_large])


# ---- parse ∘ print = id ------------------------------------------------------------------------


@settings(FAST, max_examples=300)
@given(source_files(depth=3))
def test_parse_of_printed_tree_is_the_tree(tree):
    text = to_text(tree)
    assert parse(text) == tree, text


@settings(FAST, max_examples=100)
@given(source_files())
def test_repr_of_a_tree_evaluates_to_the_tree(tree):
    assert eval(repr(tree), vars(A)) == tree  # noqa: S307 - our own trees, in a test


@settings(FAST, max_examples=150)
@given(source_files())
def test_printing_is_idempotent(tree):
    text = to_text(tree)
    assert to_text(parse(text)) == text
    again, comments = parse_with_comments(text)
    assert to_text(again, comments) == text


@settings(FAST, max_examples=300)
@given(expressions(4))
def test_expressions_round_trip_in_every_position(e):
    # the same expression as a value, an argument, a mapping image and an equation side
    text = (f"data x = {expr(e)}\nmodel m = f({expr(e)}, k = {expr(e)})\n\n"
            f"category C {{\n  eq q : {expr(e)} = {expr(e)}\n}}\n\n"
            f"functor F : C -> D {{\n  {expr(e, _RANGE)} |-> {expr(e)}\n}}\n")
    tree = parse(text)
    assert to_text(tree) == text
    assert tree.statements[0].value == e
    assert tree.statements[3].mappings[0] == A.Mapping(e, e)


# ---- other spellings print canonically -------------------------------------------------------


def _noisy(e: A.Expr, draw, slot: int = 0) -> str:
    """`e` in a random legal spelling: Unicode or ASCII, diagrammatic or applicative
    composites, extra parentheses and trailing commas, line breaks at operators."""
    text = _noisy_bare(e, draw)
    if precedence(e) < slot or draw(st.integers(0, 12)) == 0:
        return f"({text})"
    return text


def _sep(draw, op: str, leading_ok: bool) -> str:
    """`op` with spaces, or with a line break after it, or (not for `-`) before it."""
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return f" {op}\n  "  # continue after the operator
    if choice == 1 and leading_ok:
        return f"\n  {op} "  # continue before a leading operator
    return f" {op} "


def _items(items, draw, trailing_ok=True) -> str:
    body = ", ".join(_noisy(x, draw) for x in items)
    if items and trailing_ok and draw(st.booleans()):
        body += ","
    return body


def _noisy_bare(e: A.Expr, draw) -> str:
    match e:
        case A.Name() | A.QualName() | A.Number():
            return expr(e)
        case A.String(value=v):
            return string_literal(v)
        case A.Tuple(items=items):
            body = _items(items, draw, trailing_ok=len(items) > 1)
            return f"({body},)" if len(items) == 1 else f"({body})"
        case A.ListExpr(items=items):
            return f"[{_items(items, draw)}]"
        case A.SetExpr(items=items):
            return "{" + _items(items, draw) + "}"
        case A.TableExpr(entries=entries):
            body = ",\n ".join(f"{_noisy(k, draw)}: {_noisy(v, draw)}" for k, v in entries)
            return "{" + body + ("," if draw(st.booleans()) else "") + "\n}"
        case A.Call(func=f, args=args):
            parts = [f"{a.name} = {_noisy(a.value, draw)}" if isinstance(a, A.Keyword)
                     else _noisy(a, draw) for a in args]
            tail = "," if parts and draw(st.booleans()) else ""
            return f"{_noisy(f, draw, _POSTFIX)}(" + ",\n    ".join(parts) + tail + ")"
        case A.BinOp(op=op, left=l, right=r):
            prec = precedence(e)
            if op == "^":
                return f"{_noisy(l, draw, _POSTFIX)}^{_noisy(r, draw, _UNARY)}"
            spelled = draw(st.sampled_from(["(+)", "⊕"])) if op == "(+)" else op
            sep = _sep(draw, spelled, leading_ok=op != "-")
            return f"{_noisy(l, draw, prec)}{sep}{_noisy(r, draw, prec + 1)}"
        case A.Neg(operand=x):
            return "-" + _noisy(x, draw, _UNARY)
        case A.Compose(parts=parts):
            texts = [_noisy(p, draw, _OPLUS) for p in parts]
            if draw(st.booleans()):  # diagrammatic: first applied first
                op = draw(st.sampled_from([">>", "≫"]))
                texts = texts[::-1]
            else:
                op = draw(st.sampled_from([".", "∘"]))
            out = texts[0]
            for t in texts[1:]:
                out += _sep(draw, op, leading_ok=True) + t
            return out
        case A.Range(start=a, stop=b):
            return f"{_noisy(a, draw, _COMPOSE)}..{_noisy(b, draw, _COMPOSE)}"
        case A.Lambda(params=params, body=body):
            arrow = draw(st.sampled_from(["|->", "↦"]))
            if len(params) == 1 and draw(st.booleans()):
                head = params[0].id
            else:
                head = "(" + ", ".join(p.id for p in params) + ")"
            return f"{head} {arrow} {_noisy(body, draw)}"
    raise TypeError(e)


@settings(FAST, max_examples=300)
@given(expressions(3), st.data())
def test_every_spelling_of_an_expression_prints_canonically(e, data):
    text = f"data x = {_noisy(e, data.draw)}"
    tree = parse(text)
    assert tree == A.SourceFile((A.DataDecl(A.Name("x"), e),)), text
    assert to_text(tree) == f"data x = {expr(e)}\n"


_UNICODE = {"ARROW": "→", "DARROW": "⇒", "MAPSTO": "↦", "COMPOSE": "∘", "OPLUS": "⊕"}


@settings(FAST, max_examples=150)
@given(source_files(), st.data())
def test_unicode_spellings_and_separators_do_not_change_a_file(tree, data):
    text = to_text(tree)
    # swap tokens for their Unicode spellings, from the end so positions stay valid
    tokens = [t for t in _handle().lark.lex(text) if t.type in _UNICODE]
    for t in reversed(tokens):
        if data.draw(st.booleans()):
            # `>>` is diagrammatic: its Unicode spelling is `≫`, not `∘` (models print with it)
            uni = "≫" if str(t) == ">>" else _UNICODE[t.type]
            text = text[:t.start_pos] + uni + text[t.end_pos:]
    # any newline may be a `;` instead (no comments here, and strings hold no newlines)
    pieces = text.split("\n")
    seps = [data.draw(st.sampled_from(["\n", " ; ", ";"])) for _ in pieces[1:]]
    noisy = pieces[0] + "".join(s + p for s, p in zip(seps, pieces[1:]))
    back = parse(noisy)
    assert back == tree, noisy
    assert to_text(back) == to_text(tree)


# ---- comments are kept -------------------------------------------------------------------------


@settings(FAST, max_examples=200)
@given(source_files(), st.data())
def test_comments_survive_formatting(tree, data):
    lines = to_text(tree).split("\n")[:-1]
    out, n = [], 0
    for line in lines:
        if data.draw(st.integers(0, 3)) == 0:
            out.append(f"# c{n} full")
            n += 1
        if data.draw(st.integers(0, 4)) == 0:
            out.append("")
        if line.strip() and data.draw(st.integers(0, 2)) == 0:
            line = f"{line}  # c{n} trailing"
            n += 1
        out.append(line)
    if data.draw(st.booleans()):
        out.append(f"# c{n} end")
        n += 1
    source = "\n".join(out) + "\n"
    parsed, comments = parse_with_comments(source)
    assert parsed == tree
    formatted = to_text(parsed, comments)
    assert parse(formatted) == tree, formatted
    found = re.findall(r"# (c\d+)", formatted)
    assert found == [f"c{i}" for i in range(n)], formatted  # every comment, in order
    again, comments2 = parse_with_comments(formatted)
    assert to_text(again, comments2) == formatted


# ---- the canonical form ------------------------------------------------------------------------


def fmt(text: str) -> str:
    return to_text(*parse_with_comments(text))


def test_canonical_form_is_ascii_and_applicative_except_models():
    source = (
        "category Two { objects A, B; p, q : A → B; H : p ⇒ q }\n"
        "model mlp = Linear(64, 32) >> ReLU ≫ Linear(32, 10)\n"
        "data d = (x, y) ↦ x ⊕ y\n"
        "data e = g ∘ f\n"
    )
    assert fmt(source) == (
        "category Two {\n"
        "  objects A, B\n"
        "  p, q : A -> B\n"
        "  H : p => q\n"
        "}\n"
        "\n"
        "model mlp = Linear(64, 32) >> ReLU >> Linear(32, 10)\n"
        "data d = (x, y) |-> x (+) y\n"
        "data e = g . f\n"
    )
    # a model reads in the order data flows, whichever way it was written; long ones one
    # layer a line
    assert fmt("model m = Linear(32, 10) . ReLU . Linear(64, 32)\n") == \
        "model m = Linear(64, 32) >> ReLU >> Linear(32, 10)\n"
    wide = " >> ".join(["Linear(1024, 1024)", "ReLU"] * 6)
    out = fmt(f"model w = {wide}\n")
    assert out.splitlines()[0] == "model w = Linear(1024, 1024)" and out.splitlines()[1] == "  >> ReLU"
    assert fmt(out) == out


def test_unicode_spelling_keeps_the_tree():
    from catdsl.syntax.parse import parse
    from catdsl.syntax.printer import unicode_spelling

    text = fmt("category C { objects A, B; f : A -> B; g : B -> B; eq e : g . f = f >> g }\n"
               'functor F : C -> D { A |-> X }\nimport "a->b.cat"  # x -> y\nsweep S = Run.full over lr in [0.1]\n')
    uni = unicode_spelling(text)
    assert "→" in uni and "∘" in uni and "↦" in uni
    assert '"a->b.cat"' in uni and "# x -> y" in uni and "Run.full" in uni  # strings, comments, names kept
    assert parse(uni) == parse(text)


def test_canonical_form_of_the_spec_square_keeps_comments():
    source = """category Square {
  objects A, B, C, D            # 'object' and 'objects' are synonyms
  f : A -> B
  g : A -> C
  h : B -> D
  k : C -> D
  eq square : h . f = k . g     # a named equation between parallel composites
}
"""
    assert fmt(source) == """category Square {
  objects A, B, C, D  # 'object' and 'objects' are synonyms
  f : A -> B
  g : A -> C
  h : B -> D
  k : C -> D
  eq square : h . f = k . g  # a named equation between parallel composites
}
"""


@pytest.mark.parametrize("source, canonical", [
    ("data x = -2", "data x = -2"),
    ("data x = (-2)^2", "data x = (-2)^2"),
    ("data x = -2^2", "data x = -2^2"),
    ("data x = a^b^c", "data x = a^b^c"),
    ("data x = (a^b)^c", "data x = (a^b)^c"),
    ("data x = u^T . v", "data x = u^T . v"),
    ("data x = (a - b) - c", "data x = a - b - c"),
    ("data x = a - (b - c)", "data x = a - (b - c)"),
    ("data x = a / (b * c)", "data x = a / (b * c)"),
    ("data x = 2 * (f . g)", "data x = 2 * (f . g)"),
    ("data x = (2 * f) . g", "data x = 2 * f . g"),
    ("data x = (h . g) . f", "data x = (h . g) . f"),
    ("data x = f >> (g >> h)", "data x = (h . g) . f"),
    ("data x = (f ⊕ g) . h", "data x = f (+) g . h"),
    ("data x = (1,)", "data x = (1,)"),
    ("data x = ((1))", "data x = 1"),
    ("data x = ()", "data x = ()"),
    ("data x = (t,) |-> t", "data x = t |-> t"),
    ("data x = t |-> s |-> t", "data x = t |-> s |-> t"),
    ("data x = (t |-> t)(1)", "data x = (t |-> t)(1)"),
    ("data x = f(t |-> t, k = s |-> s)", "data x = f(t |-> t, k = s |-> s)"),
    ("data x = (0..3)..4", "data x = (0..3)..4"),
    ("data x = {a: 1, b: 2,}", "data x = {a: 1, b: 2}"),
    ("data x = {}", "data x = {}"),
    ('data x = "a\\tb\\"c\\\\"', 'data x = "a\\tb\\"c\\\\"'),
    ("data x = 1e-3 + 1/3", "data x = 1e-3 + 1 / 3"),
    ("check F, G with samples = 500, tol = 1e-9", "check F, G with samples = 500, tol = 1e-9"),
])
def test_golden_canonical_expressions(source, canonical):
    assert fmt(source) == canonical + "\n"
    assert fmt(canonical) == canonical + "\n"


def test_one_declaration_per_line_and_blank_lines_around_blocks():
    source = ("param a, b; data d = dataset(\"digits\",\n   test = 0.25)\n"
              "functor F : C -> D { A |-> X; f |-> u >> v }\ncheck F\n")
    assert fmt(source) == (
        "param a, b\n"
        'data d = dataset("digits", test = 0.25)\n'
        "\n"
        "functor F : C -> D {\n"
        "  A |-> X\n"
        "  f |-> v . u\n"
        "}\n"
        "\n"
        "check F\n"
    )


def test_paragraphs_are_kept_and_runs_of_empty_lines_shrink():
    source = "# title\n\n\n\ndata a = 1\ndata b = 2\n\n\nmodel m = a\n\n\n"
    assert fmt(source) == "# title\n\ndata a = 1\ndata b = 2\n\nmodel m = a\n"


def test_comments_inside_a_statement_and_blocks_are_kept():
    source = """category C {   # header
  # about A

  objects A   # A
  f : A -> A ; g : A -> A  # both


  # closing
}  # end
data x = a +  # first
   b          # second
# tail
"""
    assert fmt(source) == """category C {  # header
  # about A

  objects A  # A
  f : A -> A
  g : A -> A  # both

  # closing
}  # end

data x = a + b  # first
# second
# tail
"""


def test_formatting_never_changes_meaning_of_the_spec_examples(tmp_path):
    from catdsl.semantics.elaborate import elaborate

    source = """category Square {
  objects A, B, C, D
  f : A → B ; g : A → C
  h : B → D
  k : C → D
  eq square : f ≫ h = k ∘ g
}
functor S : Square -> Square { A ↦ A; B ↦ B; C ↦ C; D ↦ D
  f ↦ f; g ↦ g; h ↦ h; k ↦ k }
"""
    before = elaborate(parse(source), "<input>")
    after = elaborate(parse(fmt(source)), "<input>")
    assert before.presentations["Square"] == after.presentations["Square"]
    assert before.presentations["Square"].equations == after.presentations["Square"].equations


# ---- the command ---------------------------------------------------------------------------------


def test_fmt_command_check_and_write(tmp_path, capsys):
    path = tmp_path / "a.cat"
    path.write_text("data x = g∘f   # note\n", encoding="utf-8")
    assert main(["fmt", str(path)]) == 0
    assert capsys.readouterr().out == "data x = g . f  # note\n"
    assert main(["fmt", "--check", str(path)]) == 1
    assert main(["fmt", "--write", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == "data x = g . f  # note\n"
    assert main(["fmt", "--check", str(path)]) == 0


def test_fmt_command_reports_syntax_errors(tmp_path, capsys):
    path = tmp_path / "bad.cat"
    path.write_text("category C {\n  f : A ->\n}\n", encoding="utf-8")
    assert main(["fmt", str(path)]) == 2
    assert "error[E102]" in capsys.readouterr().err
