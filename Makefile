# stemgen: `make demo` and `make test` set up everything that is missing, then run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stemgen-installed
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
# Idle OpenMP threads sleep instead of spinning: on a small shared CPU, spinning threads were
# measured to make a UNet step 10x slower.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup system demo test bench ui clean-demo

setup: system $(STAMP)

system:
	@bash scripts/setup-system.sh

# torch is pinned to the build this machine keeps on disk (pip's configuration caps it at 2.14.1).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "torch==2.14.1" "torchaudio==2.11.*"
	$(BIN)/python -m pip install -q -e ".[dev,ray]"  # ray: the suite tests --backend ray on a local cluster
	@touch $@

demo: setup
	$(BIN)/python -m stemgen.demo

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	bash bench/run_all

ui: setup
	$(BIN)/stemgen ui
