# Two commands for a fresh machine:  `make book` (build the executed book)  and  `make test` (run the tests).
# Both create or reuse the virtual environment in .venv and install sitsbench with its pinned dependencies.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sitsbench-installed
PROFILE ?= quick
REAL_DATA ?= ../shared/data
BOOK_ARGS ?=

.PHONY: venv book test lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	# test-only: the official BreizhCrops package, without its heavy extras, for the differential reader test
	$(PY) -m pip install --quiet --no-deps breizhcrops==0.0.4.1
	# test-only: lightly's reference SSL losses (its training extras, Lightning and Hydra, are not needed)
	$(PY) -m pip install --quiet --no-deps lightly==1.6.0
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 --display-name "Python 3 (sitsbench)" > /dev/null
	touch $(STAMP)

book: $(STAMP)
	$(PY) -m sitsbench.book --profile $(PROFILE) --real-data $(REAL_DATA) $(BOOK_ARGS)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf _build
