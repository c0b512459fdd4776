"""A presentation as a `tikzcd` environment (the tikz-cd package), for papers.

Objects go in the cells of the layout's grid; every generator is an `\\arrow` with its label,
parallel arrows `bend left`/`bend right`, loops `loop` with `in`/`out` angles; a 2-cell is an
`\\arrow[Rightarrow, from=…, to=…]` between the arrows it connects (named with empty labels);
a pullback gets the `\\lrcorner` mark at its apex, a pushout `\\ulcorner`; the equations are
listed under the diagram. Names become TeX: Greek letters their commands (`φ` is
`\\varphi`), a letter with digits a subscript (`θ0` is `\\theta_{0}`), longer names upright.
The snippets need `tikz-cd` and `amssymb` (for the corners); `document` wraps them in a
compilable file.
"""

from __future__ import annotations

import math
import re

from catdsl.draw.layout import Layout

GREEK = {
    "α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "δ": r"\delta", "ε": r"\varepsilon", "ϵ": r"\epsilon",
    "ζ": r"\zeta", "η": r"\eta", "θ": r"\theta", "ϑ": r"\vartheta", "ι": r"\iota", "κ": r"\kappa",
    "λ": r"\lambda", "μ": r"\mu", "ν": r"\nu", "ξ": r"\xi", "ο": "o", "π": r"\pi", "ϖ": r"\varpi",
    "ρ": r"\rho", "ϱ": r"\varrho", "σ": r"\sigma", "ς": r"\varsigma", "τ": r"\tau", "υ": r"\upsilon",
    "φ": r"\varphi", "ϕ": r"\phi", "χ": r"\chi", "ψ": r"\psi", "ω": r"\omega",
    "Γ": r"\Gamma", "Δ": r"\Delta", "Θ": r"\Theta", "Λ": r"\Lambda", "Ξ": r"\Xi", "Π": r"\Pi",
    "Σ": r"\Sigma", "Υ": r"\Upsilon", "Φ": r"\Phi", "Ψ": r"\Psi", "Ω": r"\Omega",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Χ": "X",
}
BEND_DEGREES = 30  # per unit of a layout's bend


def tex_name(name: str) -> str:
    """A `.cat` name in TeX math: `f`, `\\varphi'`, `\\theta_{0}`, `\\mathrm{warm}`."""
    primes = len(name) - len(name.rstrip("'"))
    base = name[: len(name) - primes] if primes else name
    m = re.fullmatch(r"([^\W\d_])(\d+)", base)
    if m:
        out = f"{_chars(m.group(1))}_{{{m.group(2)}}}"
    elif len(base) == 1:
        out = _chars(base)
    else:
        out = rf"\mathrm{{{_chars(base)}}}"
    return out + "'" * primes


def _chars(text: str) -> str:
    out = []
    for ch in text:
        if ch in GREEK:
            out.append(GREEK[ch] + " " if GREEK[ch].startswith("\\") else GREEK[ch])
        elif ch.isascii() and (ch.isalnum() or ch in ".-"):
            out.append(ch)
        elif ch == "_":
            out.append(r"\_")
        else:  # a character pdflatex has no glyph for in math: spell its code point
            out.append(rf"\mbox{{U+{ord(ch):04X}}}")
    return "".join(out).strip()


_TOKEN = re.compile(r"\s*(\(|\)|\.(?=\s)|\*|[^\s().*]+(?:\.[^\s().*]+)*)")


def tex_term(cat_text: str) -> str:
    """A term's `.cat` text in TeX: `h . f` is `h \\circ f`, `γ * α` is `\\gamma \\ast \\alpha`."""
    out = []
    for token in _TOKEN.findall(cat_text):
        if token in "()":
            out.append(token)
        elif token == ".":
            out.append(r" \circ ")
        elif token == "*":
            out.append(r" \ast ")
        elif token == "id":
            out.append(r"\mathrm{id}")
        else:
            out.append(tex_name(token))
    return "".join(out)


def presentation_tikz(lay: Layout, source: str = "") -> str:
    """One presentation: a comment naming it, its `tikzcd` and its equations, centred."""
    lines = [f"% {lay.name}" + (f" ({source})" if source else ""), r"\begin{center}",
             rf"$\mathbf{{{tex_name(lay.name)}}}$\\[1ex]"]
    if lay.position:
        lines.append(_tikzcd(lay))
    equations = [rf"${tex_name(n)}\colon {tex_term(l)} = {tex_term(r)}$" for n, l, r in lay.equations]
    if equations:
        lines.append(r"\\[1ex]" if lay.position else "")
        lines.append("\\\\\n".join(equations))
    lines.append(r"\end{center}")
    return "\n".join(line for line in lines if line) + "\n"


def functor_tikz(name: str, source: str, target: str, mapping: list[tuple[str, str, bool]]) -> str:
    """A functor: `source --F--> target` and its mapping, one line each."""
    lines = [f"% functor {name}", r"\begin{center}", r"\begin{tikzcd}",
             rf'{_category(source)} \arrow[r, "{tex_name(name)}"] & {_category(target)}',
             r"\end{tikzcd}"]
    if mapping:
        lines.append(r"\\[1ex]")
        lines.append("\\\\\n".join(rf"${_image(a, False)} \mapsto {_image(b, is_term)}$"
                                    for a, b, is_term in mapping))
    lines.append(r"\end{center}")
    return "\n".join(lines) + "\n"


def _category(text: str) -> str:
    if re.fullmatch(r"[^\W_][\w']*", text):
        return tex_name(text)
    return rf"\mbox{{\ttfamily {_verbatim(text)}}}"


def _image(text: str, is_term: bool) -> str:
    """A term of a presentation (or a name) in math, a semantic value in typewriter type."""
    if is_term or re.fullmatch(r"[^\W_][\w']*", text):
        return tex_term(text)
    return rf"\mbox{{\ttfamily {_verbatim(text)}}}"


def _verbatim(text: str) -> str:
    """Text for `\\ttfamily`: TeX's special characters escaped, other Unicode spelled out."""
    special = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
               "%": r"\%", "_": r"\_", "^": r"\^{}", "~": r"\~{}", "|": r"\textbar{}", "<": r"\textless{}",
               ">": r"\textgreater{}", "↦": r"$\mapsto$", "⊕": r"$\oplus$", "→": r"$\to$"}
    out = []
    for ch in text:
        if ch in special:
            out.append(special[ch])
        elif ch in GREEK:
            out.append(f"${GREEK[ch]}$")
        elif ch.isascii():
            out.append(ch)
        else:
            out.append(f"U+{ord(ch):04X}")
    return "".join(out)


def _tikzcd(lay: Layout) -> str:
    rows, cols = lay.rows, lay.columns
    cells = [[[] for _ in range(cols)] for _ in range(rows)]
    at = {o: (r, c) for o, (c, r) in lay.position.items()}
    for o, (r, c) in at.items():
        cells[r][c].append(tex_name(o))
    anchors = {}  # a generator a 2-cell starts or ends at: the name of an empty label on it
    for cell in lay.cells:
        for name, is_object in ((cell.source, cell.source_is_object), (cell.target, cell.target_is_object)):
            if not is_object:
                anchors.setdefault(name, f"cell{len(anchors)}")
    for a in lay.arrows:
        r, c = at[a.source]
        options = []
        if a.loop is not None:
            options += ["loop", "distance=2.2em", f"in={_deg(a.loop + 35)}", f"out={_deg(a.loop - 35)}"]
            label = f'"{tex_name(a.name)}"' + ("'" if 90 < (a.loop % 360) < 270 else "")
        else:
            tr, tc = at[a.target]
            options.append(_direction(tc - c, tr - r))
            label = f'"{tex_name(a.name)}"' + ("'" if a.bend < 0 else "")
            if a.bend:
                side = "left" if a.bend > 0 else "right"
                options.append(f"bend {side}={_deg(abs(a.bend) * BEND_DEGREES)}")
        options.append(label)
        if a.name in anchors:
            options.append(f'""{{name={anchors[a.name]}, anchor=center, inner sep=0}}')
        cells[r][c].append(rf"\arrow[{', '.join(options)}]")
    for corner in lay.corners:
        (r, c), (tr, tc) = at[corner.apex], at[corner.opposite]
        mark = r"\lrcorner" if corner.kind == "pullback" else r"\ulcorner"
        angle = math.degrees(math.atan2(r - tr, tc - c))  # rows grow downwards
        rotate = angle + 45 if corner.kind == "pullback" else angle - 135
        extra = f", rotate={_deg(rotate)}" if round(rotate) % 360 else ""
        cells[r][c].append(rf'\arrow[{_direction(tc - c, tr - r)}, phantom, "{mark}"{{anchor=center{extra}}}, '
                           f"very near start]")
    last = cells[rows - 1][cols - 1]
    for cell in lay.cells:
        ends = []
        for name, is_object in ((cell.source, cell.source_is_object), (cell.target, cell.target_is_object)):
            ends.append(f"{at[name][0] + 1}-{at[name][1] + 1}" if is_object else anchors[name])
        last.append(rf'\arrow[Rightarrow, from={ends[0]}, to={ends[1]}, shorten <=3pt, shorten >=3pt, '
                    f'"{tex_name(cell.name)}"]')
    body = " \\\\\n".join(" & ".join(" ".join(parts) for parts in row) for row in cells)
    return "\\begin{tikzcd}\n" + body + "\n\\end{tikzcd}"


def _direction(dc: int, dr: int) -> str:
    return ("r" * dc if dc > 0 else "l" * -dc) + ("d" * dr if dr > 0 else "u" * -dr)


def _deg(v: float) -> str:
    return f"{v % 360:g}" if abs(v - round(v)) < 1e-9 else f"{v % 360:.1f}"


def document(snippets: list[str]) -> str:
    """A compilable LaTeX file holding the snippets (pdflatex; tikz-cd and amssymb)."""
    return ("\\documentclass{article}\n\\usepackage[utf8]{inputenc}\n\\usepackage{amssymb}\n"
            "\\usepackage{tikz-cd}\n\\begin{document}\n" + "\n".join(snippets) + "\\end{document}\n")
