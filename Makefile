# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both create (or reuse) .venv, install the CPU build of torch 2.13.0 first — a bare `torch`
# would pull a multi-GB CUDA build — and then this project with its test extras.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.catdsl-installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip 'setuptools>=77' wheel
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/catdsl check examples/square.cat examples/functor.cat
	$(VENV)/bin/catdsl check examples/training.cat
	$(VENV)/bin/catdsl run examples/training.cat

test: $(STAMP)
	$(PY) -m pytest -n 2 tests

bench: $(STAMP)
	$(PY) bench/bench_parse.py

clean:
	rm -rf $(VENV) .catdsl .pytest_cache .hypothesis
