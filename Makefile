# The README's two commands:  `make run`  (main job)  and  `make test`  (test suite).
# Both create the virtual environment from scratch when it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev,open,hls4ml,dse,ipcore
PYTEST_ARGS ?= -m "not slow"

.PHONY: run test test-fast venv clean-venv pretrained finn-env test-finn bench test-wheel

$(VENV)/.installed: pyproject.toml setup.py
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

# Contributors' tier: IR, passes, golden simulator, estimator, build runner; no external tools (< 2 min)
FAST_TESTS ?= tests/test_ir_*.py tests/test_sim_*.py tests/test_golden_property.py tests/test_verify.py \
	tests/test_estimate_blocks.py tests/test_report_estimate.py tests/test_build_machinery.py tests/test_build_dir.py \
	tests/test_import_cycles.py tests/test_boards.py tests/test_kinds.py
test-fast: $(VENV)/.installed
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow and not tools" $(FAST_TESTS)

pretrained: $(VENV)/.installed
	OMP_NUM_THREADS=1 $(BIN)/python -m hwkit.pretrained.rebuild

# FINN lives in its own environment (finn-plus pins clash with hwkit's); ~2.2 GB, ~6 min cold
finn-env: $(VENV)/.installed
	$(BIN)/python -m hwkit.backends.finn_env

test-finn: finn-env
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" tests/test_finn_env.py tests/test_finn.py

# The wheel, installed non-editable into an empty venv, builds the default model from another folder
# (hls/ and boards/ travel inside the wheel)
WHEEL_VENV ?= .venv-wheel
test-wheel: $(VENV)/.installed
	rm -rf dist $(WHEEL_VENV)
	$(BIN)/pip wheel --quiet --disable-pip-version-check --no-deps . -w dist
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/pip install --quiet --disable-pip-version-check "torch==2.13.0"
	$(WHEEL_VENV)/bin/pip install --quiet --disable-pip-version-check "$$(ls dist/hwkit-*.whl)[open]"
	cd "$$(mktemp -d)" && OMP_NUM_THREADS=1 $(CURDIR)/$(WHEEL_VENV)/bin/hwkit build --out wheel-build \
		&& ls wheel-build/*-bitstream/*.bit \
		&& $(CURDIR)/$(WHEEL_VENV)/bin/python -c "import hwkit, sys; sys.exit(0 if 'site-packages' in hwkit.__file__ else 'hwkit not imported from the wheel')"

bench: $(VENV)/.installed
	for b in benchmarks/bench_*.py; do OMP_NUM_THREADS=1 $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
