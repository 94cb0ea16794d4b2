# One command set for people and CI. `make demo` and `make test` build the environment when needed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint bench reliability browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# Debian's chromium for the real-browser test; only attempted as root with apt-get present.
# Elsewhere the browser test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "no chromium and no root apt-get: the browser test will skip"; fi; }

test: $(STAMP) browser
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

# HEADLESS=1 executes the demo and writes demo-output/ instead of opening JupyterLab;
# UI=notebook opens the same in Notebook 7.
UI ?= lab
demo: $(STAMP)
ifeq ($(HEADLESS),1)
	$(PY) -m lamina_jupyter.notebook.demo --headless --out demo-output
else
	$(PY) -m lamina_jupyter.notebook.demo --ui $(UI)
endif

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: $(STAMP)
	for b in bench/[!_]*.py; do $(PY) $$b || exit 1; done

# The fault matrix and its one-line summary (details in bench-output/reliability.json); fails on any miss.
reliability: $(STAMP)
	$(PY) bench/reliability.py

clean:
	rm -rf $(VENV) demo-output .lamina build *.egg-info
