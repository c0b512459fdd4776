"""Hostile input (issue 12, items 1–3): numbers too large to hold, sizes over the limits and
imports outside the folder of the file are diagnostics at their place — never an internal error,
a hang, or the content of a file the user did not mean to show."""

from __future__ import annotations

import os

import pytest

from catdsl.cli import main

ARROW = "category C {{ objects A, B; f : A -> B }}\n{functor}\n"
SMOOTH = "functor F : C -> Smooth {{ A |-> R^1; B |-> R^1; f |-> {value} }}"
VECT = "functor F : C -> Vect {{ A |-> R^1; B |-> R^1; f |-> {value} }}"


def _check(tmp_path, capsys, text: str, *flags: str) -> tuple[int, str]:
    path = tmp_path / "f.cat"
    path.write_text(text)
    code = main(["check", *flags, str(path)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("functor, value, code, needle", [
    (VECT, "[[" + "9" * 5000 + "]]", "E316", "more than 1000 digits"),
    (VECT, "[[9^9^9]]", "E316", "too large for an exact value"),
    (VECT, "[[2^2^2^2^2^2]]", "E316", "too large for an exact value"),
    (SMOOTH, "y |-> y^1e308", "E316", "too large for an exact value"),
    (SMOOTH, "x |-> (x^2 - 1)^1e100000", "E316", "more than 1000 digits"),
    (SMOOTH, "x |-> log(0)", "E316", "not a finite number"),
    (VECT, "[[1e1001]]", "E316", "more than 1000 digits"),
])
def test_numbers_too_large_or_undefined(tmp_path, capsys, functor, value, code, needle):
    status, err = _check(tmp_path, capsys, ARROW.format(functor=functor.format(value=value)))
    assert status == 2 and f"error[{code}]" in err and needle in err


def test_an_exact_large_value_is_still_fine(tmp_path, capsys):
    # 1e300 has 301 digits: within the bound, and exact
    status, err = _check(tmp_path, capsys, ARROW.format(functor=SMOOTH.format(value="t |-> 1e300 * t")))
    assert status == 0, err


@pytest.mark.parametrize("text, needle", [
    ("category C { objects A }\nfunctor F : C -> FinSet { A |-> 1e999 }\n", "size of the finite set"),
    ("category C { objects A }\nfunctor F : C -> Vect { A |-> R^(10^12) }\n", "the dimension"),
    ("category C { objects A; f : A -> A }\nfunctor F : C -> Vect { A |-> R^1; f |-> I(10^9) }\n",
     "the dimension"),
])
def test_sizes_are_bounded_before_allocation(tmp_path, capsys, text, needle):
    status, err = _check(tmp_path, capsys, text)
    assert status == 2 and "error[E401]" in err and needle in err and "--max-size" in err
    # the flag raises the limit
    small = "category C { objects A }\nfunctor F : C -> FinSet { A |-> 5000 }\n"
    assert _check(tmp_path, capsys, small)[0] == 2
    assert _check(tmp_path, capsys, small, "--max-size", "5000")[0] == 0


def test_check_options_with_huge_numbers(tmp_path, capsys):
    text = ("category C { objects A; f : A -> A }\nfunctor F : C -> Vect { A |-> R^1; f |-> [[1]] }\n"
            f"check F with seed = 1e400, samples = {'9' * 5000}\n")
    status, err = _check(tmp_path, capsys, text)
    assert status == 2 and err.count("error[E313]") == 2


def test_imports_stay_inside_the_folder_of_the_file(tmp_path, capsys):
    inside = tmp_path / "project"
    (inside / "lib").mkdir(parents=True)
    (inside / "lib" / "ok.cat").write_text("category Z { objects Q }\n")
    (tmp_path / "outside.cat").write_text("secret first line\n")
    (inside / "dir.cat").mkdir()
    os.mkfifo(inside / "fifo.cat")
    (inside / "notes.txt").write_text("not a cat file\n")
    (inside / "big.cat").write_text("#" * (9 * 1024 * 1024))
    main_file = inside / "main.cat"
    main_file.write_text('import "lib/ok.cat"\nimport "../outside.cat"\nimport "/etc/passwd"\n'
                         'import "dir.cat"\nimport "fifo.cat"\nimport "notes.txt"\nimport "big.cat"\n')
    status = main(["check", str(main_file)])
    err = capsys.readouterr().err
    assert status == 2 and err.count("error[E901]") == 6
    assert "secret" not in err and "root:" not in err  # a refused file is never read
    assert "it lies outside" in err and "not a regular file" in err and "only `.cat` files" in err
    assert "over the limit" in err
    # --import-root widens the folder
    (inside / "main.cat").write_text('import "../outside.cat"\n')
    status = main(["check", "--import-root", str(tmp_path), str(main_file)])
    assert status == 2 and "secret first line" in capsys.readouterr().err  # now read: a syntax error


def test_a_chain_of_a_thousand_imports_is_an_error_not_a_recursion_error(tmp_path, capsys):
    for i in range(1000):
        line = f'import "f{i + 1}.cat"\n' if i < 999 else ""
        (tmp_path / f"f{i}.cat").write_text(line + f"category C{i} {{ objects A }}\n")
    status = main(["check", str(tmp_path / "f0.cat")])
    err = capsys.readouterr().err
    assert status == 2 and "error[E901]" in err and "nest more than 64 deep" in err


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path, capsys):
    # a 300 KB literal matrix: parsing it would take seconds, so it is refused unless asked for
    n = 300
    rows = ", ".join("[" + ", ".join(str((i * 7 + j) % 10) for j in range(n)) + "]" for i in range(n))
    text = f"category C {{ objects A; f : A -> A }}\nfunctor V : C -> Vect {{ A |-> R^{n}; f |-> [{rows}] }}\n"
    path = tmp_path / "big.cat"
    path.write_text(text)
    assert len(text) > 256 * 1024
    assert main(["check", "--only", "V.map_id", str(path)]) == 2
    err = capsys.readouterr().err
    assert "error[E401]" in err and "over the limit of 262,144" in err and "--max-file-size" in err
    assert main(["check", "--max-file-size", str(len(text) + 1), "--only", "V.map_id", str(path)]) == 0
