"""The parser: every construct of LANGUAGE.md §1–§3 and §5, spellings, separators, line
continuation, spans, and syntax-error diagnostics (E1xx)."""

from __future__ import annotations

import re

import pytest

from catdsl.diagnostics import CODES, DiagnosticError
from catdsl.span import Span
from catdsl.syntax import ast as A
from catdsl.syntax.parse import RESERVED_WORDS, _handle, parse
from catdsl.syntax.printer import to_text

N = A.Name
Num = A.Number


def one(text: str):
    """The single statement of `text`."""
    (stmt,) = parse(text).statements
    return stmt


def value(text: str) -> A.Expr:
    """The expression `text`, parsed as the value of a `data` statement."""
    return one(f"data x = {text}").value


def error(text: str):
    with pytest.raises(DiagnosticError) as info:
        parse(text, "t.cat")
    (d,) = info.value.diagnostics
    assert d.code in CODES
    return d


# ---- the examples of LANGUAGE.md, verbatim ---------------------------------------------------

SQUARE = """\
category Square {
  objects A, B, C, D            # 'object' and 'objects' are synonyms
  f : A -> B
  g : A -> C
  h : B -> D
  k : C -> D
  eq square : h . f = k . g     # a named equation between parallel composites
}
"""

FUNCTOR = """\
functor F : Square -> Other {
  A |-> X
  f |-> u >> v
}
"""

PATHS = """\
category Two { objects A, B; p, q : A -> B; H : p => q }
functor W : Two -> Paths(loss = (x, y) |-> (x^2 - 1)^2 + y^2, level = 2) {
  A |-> (-1, 0)
  B |-> (1, 0)
  p |-> t |-> (2*t - 1, sin(pi*t)/2)
  q |-> t |-> (2*t - 1, -sin(pi*t)/2)
  H |-> (s, t) |-> (2*s - 1, (1 - 2*t) * sin(pi*s)/2)
}
"""

GENERIC = """\
functor Double : Vect -> Vect {
  R^n |-> R^(2*n)
  m   |-> m ⊕ m
}
transformation swap : Double => Double {
  R^n |-> [[O(n, n), I(n)], [I(n), O(n, n)]]
}
"""

LEARNING = """\
data digits = dataset("digits", test = 0.25, seed = 0)      # bundled default data
model mlp   = Linear(64, 32) >> ReLU >> Linear(32, 10)      # a composite in Para

category Training {
  objects init, mid, final
  warm : init -> mid
  cool : mid -> final
  full : init -> final
  eq resume : cool . warm = full      # training 3 then 2 epochs = training 5 epochs
}

functor Run : Training -> Param(mlp, digits, loss = cross_entropy) {
  init |-> init(seed = 0)
  warm |-> sgd(lr = 0.1, momentum = 0.9, batch = 64, epochs = 3, seed = 1)
  cool |-> sgd(lr = 0.1, momentum = 0.9, batch = 64, epochs = 2, seed = 1)
  full |-> sgd(lr = 0.1, momentum = 0.9, batch = 64, epochs = 5, seed = 1)
}
"""

ANALYSES = """\
sweep S = Run.full over seed in 0..49, lr in [0.01, 0.1]   # a family of runs
classes of S by homotopy(level = 0.05, path = linear, points = 17)
persistence of S by landscape(plane = filter, grid = 41, radius = 1.0)
transfer T = pullback(source = Run.full, along = adapter(rank = 4), data = target)
"""


def test_spec_category_square():
    cat = one(SQUARE)
    assert cat == A.CategoryDecl(N("Square"), (
        A.ObjectsDecl((N("A"), N("B"), N("C"), N("D"))),
        A.ArrowDecl((N("f"),), N("A"), N("B")),
        A.ArrowDecl((N("g"),), N("A"), N("C")),
        A.ArrowDecl((N("h"),), N("B"), N("D")),
        A.ArrowDecl((N("k"),), N("C"), N("D")),
        A.EquationDecl(N("square"), A.Compose((N("h"), N("f"))), A.Compose((N("k"), N("g")))),
    ))


def test_spec_functor_block():
    F = one(FUNCTOR)
    assert F == A.FunctorDecl(N("F"), N("Square"), N("Other"), (
        A.Mapping(N("A"), N("X")),
        A.Mapping(N("f"), A.Compose((N("v"), N("u")))),
    ))


def test_spec_paths_example():
    two, W = parse(PATHS).statements
    assert two.items == (
        A.ObjectsDecl((N("A"), N("B"))),
        A.ArrowDecl((N("p"), N("q")), N("A"), N("B")),
        A.CellDecl((N("H"),), N("p"), N("q")),
    )
    loss = W.target.keywords["loss"]
    assert loss == A.Lambda((N("x"), N("y")), A.BinOp(
        "+", A.BinOp("^", A.BinOp("-", A.BinOp("^", N("x"), Num("2")), Num("1")), Num("2")),
        A.BinOp("^", N("y"), Num("2"))))
    assert W.target.keywords["level"] == Num("2")
    assert W.mappings[0] == A.Mapping(N("A"), A.Tuple((A.Neg(Num("1")), Num("0"))))
    p = W.mappings[2]
    assert p.source == N("p") and isinstance(p.image, A.Lambda) and p.image.params == (N("t"),)
    assert p.image.body.items[1] == A.BinOp(
        "/", A.Call(N("sin"), (A.BinOp("*", N("pi"), N("t")),)), Num("2"))
    assert W.mappings[3].image.body.items[1] == A.BinOp(
        "/", A.Neg(A.Call(N("sin"), (A.BinOp("*", N("pi"), N("t")),))), Num("2"))
    H = W.mappings[4]
    assert H.source == N("H") and H.image.params == (N("s"), N("t"))


def test_spec_generic_functor_and_transformation():
    double, swap = parse(GENERIC).statements
    assert double.mappings == (
        A.Mapping(A.BinOp("^", N("R"), N("n")),
                  A.BinOp("^", N("R"), A.BinOp("*", Num("2"), N("n")))),
        A.Mapping(N("m"), A.BinOp("(+)", N("m"), N("m"))),
    )
    assert isinstance(swap, A.TransformationDecl)
    assert (swap.source, swap.target) == (N("Double"), N("Double"))
    O_nn = A.Call(N("O"), (N("n"), N("n")))
    I_n = A.Call(N("I"), (N("n"),))
    assert swap.mappings[0].image == A.ListExpr((A.ListExpr((O_nn, I_n)), A.ListExpr((I_n, O_nn))))


def test_spec_learning_declarations():
    data, model, training, run = parse(LEARNING).statements
    assert data == A.DataDecl(N("digits"), A.Call(N("dataset"), (
        A.String("digits"), A.Keyword("test", Num("0.25")), A.Keyword("seed", Num("0")))))
    linear = lambda a, b: A.Call(N("Linear"), (Num(a), Num(b)))  # noqa: E731
    assert model == A.ModelDecl(N("mlp"), A.Compose((linear("32", "10"), N("ReLU"),
                                                     linear("64", "32"))))
    assert training.items[-1] == A.EquationDecl(
        N("resume"), A.Compose((N("cool"), N("warm"))), N("full"))
    assert run.target == A.Call(N("Param"), (N("mlp"), N("digits"),
                                             A.Keyword("loss", N("cross_entropy"))))
    assert [m.source.id for m in run.mappings] == ["init", "warm", "cool", "full"]
    assert run.mappings[0].image == A.Call(N("init"), (A.Keyword("seed", Num("0")),))
    assert run.mappings[1].image.keywords["epochs"] == Num("3")


def test_spec_analyses():
    sweep, classes, persistence, transfer = parse(ANALYSES).statements
    assert sweep == A.SweepDecl(N("S"), A.QualName(("Run", "full")), (
        A.Binding(N("seed"), A.Range(Num("0"), Num("49"))),
        A.Binding(N("lr"), A.ListExpr((Num("0.01"), Num("0.1")))),
    ))
    assert classes == A.AnalysisDecl("classes", None, N("S"), A.Call(N("homotopy"), (
        A.Keyword("level", Num("0.05")), A.Keyword("path", N("linear")),
        A.Keyword("points", Num("17")))))
    assert persistence.kind == "persistence" and persistence.name is None
    assert persistence.method.func == N("landscape")
    assert transfer == A.TransferDecl(N("T"), A.Call(N("pullback"), (
        A.Keyword("source", A.QualName(("Run", "full"))),
        A.Keyword("along", A.Call(N("adapter"), (A.Keyword("rank", Num("4")),))),
        A.Keyword("data", N("target")))))


def test_named_analyses_and_check_with_options():
    classes, persistence, transfer, check = parse(
        "classes C of S by homotopy(level = 0.05)\n"
        "persistence P of S by landscape(grid = 41)\n"
        "transfer T = pullback(source = Run.full, along = adapter(rank = 4), data = target)\n"
        "check F, G with samples = 500, tol = 1e-9\n").statements
    assert classes.name == N("C") and classes.subject == N("S")
    assert persistence.name == N("P")
    assert transfer.name == N("T")
    assert check == A.CheckDecl((N("F"), N("G")), (A.Keyword("samples", Num("500")),
                                                  A.Keyword("tol", Num("1e-9"))))
    assert one("check Run.full") == A.CheckDecl((A.QualName(("Run", "full")),), ())


def test_every_spec_example_prints_and_parses_back():
    for text in (SQUARE, FUNCTOR, PATHS, GENERIC, LEARNING, ANALYSES):
        tree = parse(text)
        assert parse(to_text(tree)) == tree


# ---- §1 lexical ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ascii_text, unicode_text", [
    ("f : A -> B", "f : A → B"),
    ("α : f => g", "α : f ⇒ g"),
    ("eq e : g . f = h", "eq e : g ∘ f = h"),
    ("eq e : f >> g = h", "eq e : f ≫ g = h"),
    ("eq e : f >> g = h", "eq e : g ∘ f = h"),
    ("eq e : β . α = γ", "eq e : α ≫ β = γ"),
])
def test_ascii_and_unicode_spellings_in_a_category(ascii_text, unicode_text):
    assert parse(f"category C {{ {ascii_text} }}") == parse(f"category C {{ {unicode_text} }}")


@pytest.mark.parametrize("ascii_text, unicode_text", [
    ("t |-> t", "t ↦ t"),
    ("(x, y) |-> x * y", "(x, y) ↦ x * y"),
    ("u (+) v", "u ⊕ v"),
    ("g . f", "g ∘ f"),
    ("f >> g", "f ≫ g"),
    ("g . f", "f >> g"),
    ("h . g . f", "f >> g >> h"),
    ("h . g . f", "h ∘ g ∘ f"),
    ("h . g . f", "f ≫ g ≫ h"),
])
def test_ascii_and_unicode_spellings_of_values(ascii_text, unicode_text):
    assert value(ascii_text) == value(unicode_text)


def test_functor_and_transformation_arrows_have_unicode_spellings():
    a = parse("functor F : C -> D { A |-> X }\ntransformation t : F => G { A |-> f }")
    u = parse("functor F : C → D { A ↦ X }\ntransformation t : F ⇒ G { A ↦ f }")
    assert a == u


def test_composition_orders_give_one_term():
    assert value("g . f") == value("f >> g") == A.Compose((N("g"), N("f")))
    assert value("h . g . f") == value("f >> g >> h") == A.Compose((N("h"), N("g"), N("f")))
    # parentheses keep a nested composite as written
    assert value("h . (g . f)") == A.Compose((N("h"), A.Compose((N("g"), N("f")))))
    assert value("(f >> g) >> h") == A.Compose((N("h"), A.Compose((N("g"), N("f")))))
    # a mixed chain groups to the left: (f >> g) . h = g . f . h
    assert value("f >> g . h") == A.Compose((N("g"), N("f"), N("h")))


def test_dotted_names_and_composition_are_told_apart_by_spaces():
    assert value("Run.full") == A.QualName(("Run", "full"))
    assert value("Run . full") == A.Compose((N("Run"), N("full")))
    assert value("a.b.c") == A.QualName(("a", "b", "c"))


@pytest.mark.parametrize("text, expected", [
    ("3", Num("3")),
    ("-2", A.Neg(Num("2"))),
    ("0.5", Num("0.5")),
    ("1e-3", Num("1e-3")),
    ("2.5E+10", Num("2.5E+10")),
    ("1/3", A.BinOp("/", Num("1"), Num("3"))),
    ('"digits"', A.String("digits")),
    ('"a \\"quoted\\" word\\n"', A.String('a "quoted" word\n')),
    ('"# not a comment"', A.String("# not a comment")),
    ("f'", N("f'")),
    ("f''", N("f''")),
    ("θ0", N("θ0")),
    ("_x1", N("_x1")),
    ("Δt'", N("Δt'")),
])
def test_literals_and_identifiers(text, expected):
    assert value(text) == expected


def test_reserved_words_match_the_grammar():
    grammar = _handle().lark
    keywords = {t.pattern.value for t in grammar.terminals
                if t.pattern.type == "str" and re.fullmatch(r"[a-z]+", t.pattern.value)}
    assert keywords == RESERVED_WORDS


@pytest.mark.parametrize("word", sorted(RESERVED_WORDS))
def test_reserved_words_are_not_names_but_may_name_keyword_arguments(word):
    d = error(f"data {word} = 1")
    assert d.code == "E102"
    assert value(f"f({word} = 1)") == A.Call(N("f"), (A.Keyword(word, Num("1")),))
    assert one(f"check F with {word} = 1").options == (A.Keyword(word, Num("1")),)


def test_pullback_may_be_called_as_a_value():
    assert value("pullback(source = S)") == A.Call(N("pullback"), (A.Keyword("source", N("S")),))


def test_comments_are_ignored_and_hash_in_strings_is_kept():
    text = '# a file\ndata x = "#1" # trailing\n# end'
    assert parse(text) == parse('data x = "#1"')


def test_semicolons_and_newlines_separate_statements_and_items():
    by_lines = parse("param a\nparam b\ncategory C {\n  objects A\n  f : A -> A\n}\n")
    by_semis = parse("param a; param b; category C { objects A; f : A -> A }")
    assert by_lines == by_semis
    # empty statements and extra separators are allowed
    assert parse(";;\n\nparam a;;\n\n; param b;") == parse("param a\nparam b")
    assert parse("category C { ; objects A ;; }") == parse("category C { objects A }")
    assert parse("") == A.SourceFile(())
    assert parse("# only a comment\n") == A.SourceFile(())


def test_line_continues_inside_brackets():
    assert value("f(1,\n  2,\n  k = 3\n)") == value("f(1, 2, k = 3)")
    assert value("[[1, 0],\n [0, 1]]") == value("[[1, 0], [0, 1]]")
    assert value("(1\n, 2)") == value("(1, 2)")


def test_line_continues_after_a_binary_operator():
    assert value("a +\n  b") == value("a + b")
    assert value("g .\n f") == value("g . f")
    assert value("f >>\n g") == value("g . f")
    assert value("t |->\n t") == value("t |-> t")
    assert value("u (+)\n v") == value("u (+) v")
    cat = parse("category C {\n  objects A\n  f : A ->\n    A\n  eq e :\n    f = f\n}")
    assert cat == parse("category C { objects A; f : A -> A; eq e : f = f }")


def test_line_continues_before_a_leading_binary_operator():
    assert value("g\n  . f") == value("g . f")
    assert value("f\n  >> g\n  >> h") == value("h . g . f")
    assert value("a\n  + b\n  * c") == value("a + b * c")
    assert value("x\n  ⊕ y") == value("x (+) y")
    cat = parse("category C {\n  objects A\n  f : A\n    -> A\n}")
    assert cat == parse("category C { objects A; f : A -> A }")


def test_a_leading_minus_starts_a_new_line():
    # `-` may start an item, so a line that starts with it is not a continuation
    d = error("data x = a\n  - b")
    assert d.code == "E102" and d.span.line == 2


def test_line_continues_around_connective_keywords():
    sweep = "sweep S = Run.full\n  over seed\n  in 0..49,\n  lr in [0.01, 0.1]"
    assert one(sweep) == one("sweep S = Run.full over seed in 0..49, lr in [0.01, 0.1]")
    assert one("classes C\n  of S\n  by h(1)") == one("classes C of S by h(1)")
    assert one("check F\n  with samples = 5") == one("check F with samples = 5")


def test_sets_and_tables_may_span_lines():
    assert value("{a: x,\n b: y}") == value("{a: x, b: y}")
    assert value("{a: x,\n b: y\n}") == value("{a: x, b: y}")
    assert value("{\n  a,\n  b\n}") == value("{a, b}")
    F = parse("functor F : C -> FinSet {\n  A |-> {a, b,\n    c}\n  f |-> {a: b,\n    b: a\n  }\n}")
    assert F.statements[0].mappings[1].image == value("{a: b, b: a}")


def test_import():
    assert one('import "file.cat"') == A.Import("file.cat")
    assert one('import "lib/shapes.cat"').path == "lib/shapes.cat"


def test_param():
    assert one("param a, b") == A.ParamDecl((N("a"), N("b")))


# ---- §2 presentations ----------------------------------------------------------------------------


def test_object_and_objects_are_synonyms():
    assert parse("category C { object A }") == parse("category C { objects A }")


def test_one_cell_terms():
    cat = one("category C { objects A; f, g : A -> A; eq e : id . f = id(A) . g >> f }")
    eq = cat.items[-1]
    assert eq.lhs == A.Compose((N("id"), N("f")))
    assert eq.rhs == A.Compose((N("f"), A.Call(N("id"), (N("A"),)), N("g")))


def test_two_cell_terms():
    cat = one("category C {\n  α, β : f => g\n  eq v : β . α = α >> β\n"
              "  eq h : β * α = h * α * f\n  eq i : id(f) . α = α\n}")
    cells, vertical, horizontal, ident = cat.items
    assert cells == A.CellDecl((N("α"), N("β")), N("f"), N("g"))
    assert vertical.lhs == vertical.rhs == A.Compose((N("β"), N("α")))
    assert horizontal.lhs == A.BinOp("*", N("β"), N("α"))
    assert horizontal.rhs == A.BinOp("*", A.BinOp("*", N("h"), N("α")), N("f"))
    assert ident.lhs == A.Compose((A.Call(N("id"), (N("f"),)), N("α")))


def test_pullback_and_pushout_declarations():
    pb, po = one("category C {\n  pullback (P, p, q) of f, g\n"
                 "  pushout (Q, i, j) of u . v, w\n}").items
    assert pb == A.PullbackDecl(N("P"), N("p"), N("q"), N("f"), N("g"))
    assert po == A.PullbackDecl(N("Q"), N("i"), N("j"), A.Compose((N("u"), N("v"))), N("w"),
                                dual=True)


# ---- §3 functors -------------------------------------------------------------------------------


def test_builtin_functor_form():
    F = one("functor L : Param -> Rep = features(layer = 2, probe = digits.test)")
    assert F.mappings is None
    assert F.definition == A.Call(N("features"), (
        A.Keyword("layer", Num("2")), A.Keyword("probe", A.QualName(("digits", "test")))))


def test_empty_blocks():
    assert one("category C {}") == A.CategoryDecl(N("C"), ())
    assert one("functor F : C -> D {\n}").mappings == ()


def test_semantic_category_values():
    assert value("[[1, 0], [0, 1]]") == A.ListExpr((A.ListExpr((Num("1"), Num("0"))),
                                                    A.ListExpr((Num("0"), Num("1")))))
    assert value("I(2) ⊕ O(1, 2)") == A.BinOp("(+)", A.Call(N("I"), (Num("2"),)),
                                             A.Call(N("O"), (Num("1"), Num("2"))))
    assert value("u^T") == A.BinOp("^", N("u"), N("T"))
    assert value("c * u^T") == A.BinOp("*", N("c"), A.BinOp("^", N("u"), N("T")))
    assert value("{a, b, c}") == A.SetExpr((N("a"), N("b"), N("c")))
    assert value("{a: x, b: y}") == A.TableExpr(((N("a"), N("x")), (N("b"), N("y"))))
    assert value("[0, 2, 1]") == A.ListExpr((Num("0"), Num("2"), Num("1")))
    assert value("(1,)") == A.Tuple((Num("1"),))
    assert value("()") == A.Tuple(())
    assert value("(1)") == Num("1")
    assert value("f()") == A.Call(N("f"), ())


@pytest.mark.parametrize("text, expected", [
    ("1 + 2 * 3", A.BinOp("+", Num("1"), A.BinOp("*", Num("2"), Num("3")))),
    ("1 - 2 - 3", A.BinOp("-", A.BinOp("-", Num("1"), Num("2")), Num("3"))),
    ("2^3^4", A.BinOp("^", Num("2"), A.BinOp("^", Num("3"), Num("4")))),
    ("-x^2", A.Neg(A.BinOp("^", N("x"), Num("2")))),
    ("x^-1", A.BinOp("^", N("x"), A.Neg(Num("1")))),
    ("a ⊕ b + c", A.BinOp("(+)", N("a"), A.BinOp("+", N("b"), N("c")))),
    ("f ⊕ g . h", A.Compose((A.BinOp("(+)", N("f"), N("g")), N("h")))),
    ("2 * f . g", A.Compose((A.BinOp("*", Num("2"), N("f")), N("g")))),
    ("0..n + 1", A.Range(Num("0"), A.BinOp("+", N("n"), Num("1")))),
    ("t |-> a . b", A.Lambda((N("t"),), A.Compose((N("a"), N("b"))))),
    ("f(x)(y)", A.Call(A.Call(N("f"), (N("x"),)), (N("y"),))),
    ("f(x)^2", A.BinOp("^", A.Call(N("f"), (N("x"),)), Num("2"))),
])
def test_precedence(text, expected):
    assert value(text) == expected


# ---- spans -------------------------------------------------------------------------------------


def test_spans_of_nodes():
    tree = parse(SQUARE, "sq.cat")
    cat = tree.statements[0]
    assert cat.span == Span("sq.cat", 1, 1, 8, 2)
    assert cat.name.span == Span("sq.cat", 1, 10, 1, 16)
    objects = cat.items[0]
    assert objects.span == Span("sq.cat", 2, 3, 2, 21)
    assert objects.names[3].span == Span("sq.cat", 2, 20, 2, 21)
    eq = cat.items[5]
    assert eq.span == Span("sq.cat", 7, 3, 7, 28)
    assert eq.lhs.span == Span("sq.cat", 7, 15, 7, 20)
    assert eq.rhs.parts[1].span == Span("sq.cat", 7, 27, 7, 28)


def test_spans_across_lines_and_unicode():
    tree = parse("data θ = f(1,\n  k = g ∘ h)\n", "u.cat")
    data = tree.statements[0]
    assert data.span == Span("u.cat", 1, 1, 2, 13)
    assert data.name.span == Span("u.cat", 1, 6, 1, 7)
    kw = data.value.args[1]
    assert kw.span == Span("u.cat", 2, 3, 2, 12)
    assert kw.value.span == Span("u.cat", 2, 7, 2, 12)
    assert tree.span == Span("u.cat", 1, 1, 2, 13)


def test_spans_of_mappings():
    F = one(FUNCTOR)
    assert F.mappings[1].span.line == 3
    assert (F.mappings[1].span.column, F.mappings[1].span.end_column) == (3, 15)
    assert F.mappings[1].image.span == Span("<input>", 3, 9, 3, 15)


# ---- syntax errors -------------------------------------------------------------------------------


def test_unexpected_character():
    d = error("category C {\n  f : A -> B $\n}")
    assert d.code == "E101"
    assert (d.span.file, d.span.line, d.span.column) == ("t.cat", 2, 14)
    assert "'$'" in d.message


def test_single_quotes_get_a_hint():
    d = error("data x = 'digits'")
    assert d.code == "E101" and "double quotes" in d.hints[0]


def test_unterminated_string():
    d = error('data x = "abc\n')
    assert d.code == "E101" and (d.span.line, d.span.column) == (1, 10)
    assert "not closed" in d.hints[0]


def test_unexpected_token_names_what_was_expected():
    d = error("category C {\n  f : A B\n}")
    assert d.code == "E102"
    assert (d.span.line, d.span.column, d.span.end_column) == (2, 9, 10)
    assert d.message == "unexpected `B`; expected an operator, `->` or `=>`"


def test_missing_expression():
    d = error("category C {\n  f : A ->\n}")
    assert d.code == "E102" and d.span.line == 3
    assert d.message == "unexpected `}`; expected an expression"


def test_unexpected_end_of_file():
    d = error("category C {\n  objects A")
    assert d.code == "E103"
    assert (d.span.line, d.span.column) == (2, 12)
    assert d.message.startswith("unexpected end of file; expected ")
    assert "`}`" in d.message
    assert d.hints == ("a `{` is not closed",)
    d = error("data x = f(1,")
    assert d.code == "E103" and "an expression" in d.message


def test_unclosed_bracket_at_end_of_line():
    d = error("data x = [1, 2\ndata y = 3")
    assert d.code == "E102"


def test_declarations_outside_a_category_get_a_hint():
    d = error("objects A, B")
    assert d.code == "E102" and "a statement" in d.message
    assert "category" in d.hints[0]


def test_keyword_as_a_name_is_an_error():
    d = error("category in { }")
    assert d.code == "E102" and d.message == "unexpected `in`; expected a name"


def test_bad_lambda_parameters():
    d = error("data f = (1 + x) |-> x")
    assert d.code == "E104" and (d.span.line, d.span.column) == (1, 11)


def test_body_items_must_be_mappings():
    d = error("functor F : C -> D {\n  A |-> X\n  f\n}")
    assert d.code == "E105" and (d.span.line, d.span.column) == (3, 3)


def test_unknown_escape():
    d = error('data x = "a\\qb"')
    assert d.code == "E106"


def test_unexpected_end_of_line():
    d = error("data x = (1 +)\n")
    assert d.code == "E102" and d.message == "unexpected `)`; expected an expression"
    d = error("data x\n  = 1")
    assert d.code == "E102" and d.message == "unexpected end of line; expected `=`"
    assert (d.span.line, d.span.column) == (1, 7)
    d = error("data x = f(1,\n 2\ndata y = 1")  # the bracket swallows the newlines
    assert d.code == "E102" and d.span.line == 3


def test_syntax_errors_render_with_a_caret(tmp_path, capsys):
    from catdsl.cli import main

    path = tmp_path / "bad.cat"
    path.write_text("category C {\n  f : A B\n}\n", encoding="utf-8")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2:9: error[E102]: unexpected `B`; expected an operator" in err
    assert "\n   2 |   f : A B\n     |         ^\n" in err


# ---- decisions where LANGUAGE.md is silent (docs/language.md, "Decisions") -------------------


def test_lambda_parameters_may_be_empty_or_a_one_tuple():
    assert value("() |-> 1") == A.Lambda((), Num("1"))
    assert value("(t,) |-> t") == value("(t) |-> t") == value("t |-> t")


def test_numbers_use_ascii_digits_only():
    assert error("data x = ٣").code == "E101"
    assert value("x٣") == N("x٣")  # other digits may follow a letter in a name


def test_byte_order_mark_and_crlf_line_ends_are_whitespace():
    assert parse("\ufeffparam a\r\nparam b\r\n") == parse("param a\nparam b\n")


def test_block_brace_must_be_on_the_header_line():
    d = error("category C\n{ objects A }")
    assert d.code == "E102" and d.message.startswith("unexpected end of line")


def test_empty_braces_are_the_empty_set():
    assert value("{}") == A.SetExpr(())


def test_string_escapes():
    assert value('"a\\rb\\tc\\nd"') == A.String("a\rb\tc\nd")


def test_nesting_is_bounded_so_no_later_phase_recurses_too_deep():
    from catdsl.syntax.parse import MAX_DEPTH

    ok = "data x = " + "-" * (MAX_DEPTH - 2) + "1"
    assert parse(ok)
    for deep in ("data x = " + "[" * 200 + "]" * 200,
                 "data x = " + " + ".join(["a"] * 200),
                 "category C { eq e : " + "f . (" * 150 + "f" + ")" * 150 + " = f }"):
        d = error(deep)
        assert d.code == "E107" and "nested more than" in d.message
