# The two commands of the quick start:
#   make demo   set up a virtual environment and run the bundled demo audit
#   make test   set up a virtual environment and run the whole test suite (make check, then pytest)
# `make check` is the mechanical gate CI and the pre-commit hooks share: ruff format, ruff lint (with the
# complexity limit), mypy --strict on auditor/ and the import layering contract.
# `make demo` needs no extra; `make test` installs the simulator and test extras ([sim,test]).
# `make image` builds deploy/Dockerfile with podman and audits the demo inside the image.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo check test lint bench image clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/.installed-test: $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[sim,test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/entra-auditor audit --demo --out reports/demo

check: $(BIN)/.installed-test
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_layering.py

test: check
	$(BIN)/python -m pytest

lint: $(BIN)/.installed-test
	$(BIN)/ruff check .

bench: $(BIN)/.installed-test
	$(BIN)/python benchmarks/evaluate.py
	$(BIN)/python benchmarks/render.py
	$(BIN)/python benchmarks/collect.py

image:
	bash deploy/build-image.sh

clean:
	rm -rf $(VENV) reports/demo .pytest_cache
