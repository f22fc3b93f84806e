# The README's two commands:  `make run`  (main job)  and  `make test`  (test suite).
# Both create the virtual environment from scratch when it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev,open,hls4ml,dse
PYTEST_ARGS ?= -m "not slow"

.PHONY: run test venv clean-venv pretrained finn-env test-finn bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "torch==2.13.0"
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[$(EXTRAS)]"
	touch $@

venv: $(VENV)/.installed

# Main job: build the shipped default model (W2A2 MLP on digits) into a verified accelerator.
run: $(VENV)/.installed
	OMP_NUM_THREADS=1 $(BIN)/hwkit build

# Test suite, the quickstart notebook included (nbmake runs it top to bottom)
test: $(VENV)/.installed
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests --nbmake --nbmake-timeout=1200 notebooks

pretrained: $(VENV)/.installed
	OMP_NUM_THREADS=1 $(BIN)/python -m hwkit.pretrained.rebuild

# FINN lives in its own environment (finn-plus pins clash with hwkit's); ~2.2 GB, ~6 min cold
finn-env: $(VENV)/.installed
	$(BIN)/python -m hwkit.backends.finn_env

test-finn: finn-env
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" tests/test_finn_env.py tests/test_finn.py

bench: $(VENV)/.installed
	for b in benchmarks/bench_*.py; do OMP_NUM_THREADS=1 $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
