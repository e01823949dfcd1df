# Everything runs inside .venv; `make test` and `make quickstart` set it up on first use.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DAVIS_STAMP := $(VENV)/.davisinteractive

.PHONY: setup test quickstart clean

setup: $(DAVIS_STAMP)

$(STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; run 'make PYTHON=/path/to/python3.11'"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# davisinteractive 1.0.4 pins scikit-learn==0.20.3 and builds a Cython extension against the venv's numpy:
# no deps, no build isolation, no cached wheel (see evaluation/davis_compat.py).
$(DAVIS_STAMP): $(STAMP)
	$(PY) -m pip install -q --no-deps --no-build-isolation --no-cache-dir davisinteractive==1.0.4
	touch $@

test: setup
	$(PY) -m pytest -q tests

# The main job: synthetic data -> train propagation, S2M, fusion -> semi-supervised and interactive evaluation.
quickstart: setup
	$(PY) scripts/quickstart.py --output runs/quickstart --overwrite

clean:
	rm -rf $(VENV) .pytest_cache
