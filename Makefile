# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both create (or reuse) .venv, install the CPU build of torch 2.13.0 first — a bare `torch`
# would pull a multi-GB CUDA build — and then this project with its test extras.

PYTHON ?= python3
VENV   ?= .venv
# The demo's run store: emptied first, so every demo trains for real and then shows reuse.
DEMO_STORE ?= .catdsl/demo
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.catdsl-installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip 'setuptools>=77' wheel
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# Laws of presented categories, then the learning examples: the resume law, the learning
# functor L and a sweep are checked on real training runs; `run` prints the results tables of
# the sweep (every job already in the store, so it reuses them all).
demo: $(STAMP)
	rm -rf $(DEMO_STORE)
	$(VENV)/bin/catdsl check examples/square.cat examples/functor.cat
	$(VENV)/bin/catdsl check --store $(DEMO_STORE) examples/training.cat examples/learning_functor.cat examples/sweep.cat
	$(VENV)/bin/catdsl run --store $(DEMO_STORE) examples/sweep.cat

test: $(STAMP)
	$(PY) -m pytest -n 2 tests

bench: $(STAMP)
	$(PY) bench/bench_parse.py
	$(PY) bench/bench_symbolic.py --quick
	$(PY) bench/bench_ensemble.py --quick
	$(PY) bench/bench_store.py
	$(PY) bench/bench_transfer.py --quick
	$(PY) bench/bench_homotopy.py --quick
	$(PY) bench/bench_landscape.py --quick

clean:
	rm -rf $(VENV) .catdsl .pytest_cache .hypothesis
