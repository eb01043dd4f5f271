# Two commands on a fresh machine:  `make demo`  and  `make test`.
# TORCH picks the PyTorch build: the CPU build by default; on a CUDA machine use
# `make demo TORCH=torch` (or install torch yourself first: an installed torch is kept).
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench install clean

$(BIN)/ddspkit: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(BIN)/ddspkit

install: $(BIN)/ddspkit

demo: install
	$(BIN)/ddspkit demo

test: install
	$(BIN)/ruff check src tests benchmarks scripts notebooks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build ddspkit-demo
