# Both entry points bootstrap their own virtualenv: a fresh machine needs only Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo bench bench-report clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench,postgres,web]'
	@# An editable install compiles nothing, and some machines forbid writing bytecode on import.
	$(BIN)/python -m compileall -q matrixgen
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/matrixgen demo

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

bench-report: $(STAMP)  # the report renderer alone, on synthetic data
	$(BIN)/python benchmarks/bench_report.py

clean:
	rm -rf $(VENV) output/demo output/bench
