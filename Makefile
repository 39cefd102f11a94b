# Two commands for a fresh clone:  `make demo`  and  `make test`. Each sets itself up.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: setup demo test render bench clean

setup: $(VENV)/.installed

# One venv for the CLI, its test tools and the example app's stack (its tests run it for real).
$(VENV)/.installed: pyproject.toml examples/app/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' -r examples/app/requirements.txt
	touch $@

# The main job: run the example service here the way a platform would, then verify it.
demo: setup
	$(BIN)/streamdeploy up --target local -f examples/app/streamdeploy.yaml

test: setup
	$(BIN)/python -m pytest

render: setup
	$(BIN)/streamdeploy render --target all -f examples/app/streamdeploy.yaml

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache examples/app/.streamdeploy
