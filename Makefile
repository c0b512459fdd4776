# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both create (or reuse) .venv, install the CPU build of torch 2.13.0 first — a bare `torch`
# would pull a multi-GB CUDA build — and then this project with its test extras.

PYTHON ?= python3
VENV   ?= .venv
# The demo's run store: emptied first, so every demo trains for real and then shows reuse.
DEMO_STORE ?= .catdsl/demo
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.catdsl-installed

.PHONY: demo test fuzz bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip 'setuptools>=77' wheel
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# Laws of presented categories, then the learning examples: the resume law, the learning
# functor L and a sweep are checked on real training runs; `run` prints the results tables of
# the sweep, reusing the jobs the checks trained (all but one: the functor's own `fit`, which no
# law of sweep.cat needed, is trained then).
demo: $(STAMP)
	rm -rf $(DEMO_STORE)
	$(VENV)/bin/catdsl check examples/square.cat examples/functor.cat
	$(VENV)/bin/catdsl check --store $(DEMO_STORE) examples/training.cat examples/learning_functor.cat examples/sweep.cat
	$(VENV)/bin/catdsl run --store $(DEMO_STORE) examples/sweep.cat

test: $(STAMP)
	$(PY) -m pytest -n 2 tests

# The 10,000-input fuzz run of the front end (a few minutes): every input must end in success
# or diagnostics, none over 20 s; the failing inputs are written to .fuzz/failures.txt.
fuzz: $(STAMP)
	rm -f .fuzz/failures.txt
	$(PY) -m pytest -n 0 -q -s -m slow tests/test_fuzz.py

# Every bench/ script in its quick mode, then one table (target, measured ratio, pass or miss),
# also written to docs/results/bench.md. Run one script alone for its full figures. The sources
# are compiled first, as pip compiles an installed package: where PYTHONDONTWRITEBYTECODE is set,
# an editable install would compile every module again in every process the benchmarks time.
bench: $(STAMP)
	$(PY) -m compileall -q catdsl backends
	$(PY) bench/table.py

clean:
	rm -rf $(VENV) .catdsl .pytest_cache .hypothesis .fuzz
