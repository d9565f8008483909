# Two commands matter (see README.md): `make book` and `make test`. Both create .venv and install on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch and torchvision are pinned as a pair: a CPU-only torch wheel breaks PyPI's torchvision (see README).
TORCH ?= torch==2.14.1 torchvision==0.29.1

.PHONY: install book book-full full test test-fast lint sync peer clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[book,test]"
	touch $(STAMP)

## the main job: execute every chapter in quick mode and build the HTML book into _build/html
book: install
	$(BIN)/jupyter-book build . -W -n --keep-going

## the full-size run (a GPU helps): same chapters with QUICK=False, built into _build/full
book-full: install
	NIC_QUICK=0 $(BIN)/jupyter-book build . -W -n --keep-going --path-output _build/full

## full mode, chapter by chapter (the GPU workflow runs this): papermill with QUICK=False into _build/full-run
## (executed notebooks, with the CSV/JSON that chapters write beside them), then nbval re-runs each one and
## fails on any error. Chapters pick cuda when it is there (DEVICE="auto").
FULL_TIMEOUT ?= 14400
full: install
	mkdir -p _build/full-run
	for nb in book/[0-9]*.ipynb; do \
	  $(BIN)/papermill $$nb _build/full-run/$$(basename $$nb) -p QUICK False -p DEVICE auto \
	    --cwd _build/full-run --execution-timeout $(FULL_TIMEOUT) || exit 1; \
	done
	cd _build/full-run && NIC_QUICK=0 ../../$(BIN)/python -m pytest --nbval-lax --nbval-cell-timeout $(FULL_TIMEOUT) \
	  -o timeout=0 -o addopts="" -p no:cacheprovider --rootdir . $(abspath book)/[0-9]*.ipynb

# Tests (and the chapters they execute) run torch on one thread unless told otherwise: with two OpenMP threads
# on a 2-core machine, any other busy process makes every small op wait at a barrier, measured here as 10-85x
# slower chapters (chapter 2: 24 s on one thread, 490 s on two beside a busy core). `make TEST_THREADS=4 test`.
TEST_THREADS ?= 1
test test-fast: export OMP_NUM_THREADS = $(TEST_THREADS)
test test-fast: export MKL_NUM_THREADS = $(TEST_THREADS)

## every test: unit tests, md/ipynb pairing, each chapter through papermill (parameters) and nbval (execution),
## `make book` as a new user runs it, and headless Chromium through the built book
test: install lint
	$(BIN)/python -m pytest

## unit tests only (minutes)
test-fast: install lint
	$(BIN)/python -m pytest -m "not slow"

## ruff: lint and format check (pinned in the test extras; `.venv/bin/ruff format .` formats)
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## after editing a chapter's .md (or _config.yml's repository): write the Colab badges and install cells from
## _config.yml, then rewrite each chapter's paired, output-free .ipynb
sync: install
	$(BIN)/python book/_ext/repository_links.py
	$(BIN)/jupytext --sync book/*.md

## the CompressAI peer: train it exactly as our factorized checkpoints (resumable, ~4.5 CPU hours on one thread;
## PEER_THREADS=2 takes both cores), then measure ours against it (benchmarks/results/rd-*.md)
PEER_THREADS ?= 1
peer: install
	$(BIN)/python -m helpers.train --plan peer --threads $(PEER_THREADS)
	$(BIN)/python benchmarks/rd.py

clean:
	rm -rf _build
