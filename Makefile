PY ?= .venv/bin/python

.PHONY: install test lint snapshots-update screenshots bench

install:
	python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 -e '.[test]'

test:
	$(PY) -m pytest

lint:
	$(PY) -m ruff check attn_tui tests benchmarks scripts
	$(PY) -m mypy attn_tui

snapshots-update:
	$(PY) -m pytest tests/test_snapshots.py --snapshot-update

screenshots:
	$(PY) scripts/screenshots.py

bench:
	$(PY) -m benchmarks
