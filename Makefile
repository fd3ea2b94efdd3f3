# Two commands do everything on a fresh machine with Python 3.11:
#   make run    install into .venv and run the bot with config/alertbot.toml
#   make test   install into .venv and run ruff, mypy and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= config/alertbot.toml
STAMP  := $(VENV)/.installed

.PHONY: run once test lint typecheck pytest bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the declared dependencies or the lock change.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/alertbot run --config $(CONFIG)

once: $(STAMP)
	$(BIN)/alertbot run --once --config $(CONFIG)

lint: $(STAMP)
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench

typecheck: $(STAMP)
	$(BIN)/mypy bot

# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
# Bytecode first: the tests start many alertbot processes, and where
# PYTHONDONTWRITEBYTECODE is set (CI images) each one compiled every module again.
pytest: $(STAMP)
	@$(BIN)/python -m compileall -q bot tests bench > /dev/null
	@$(BIN)/python -m pytest -n auto --dist worksteal; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/match.py
	$(BIN)/python bench/parse.py
	$(BIN)/python bench/poll.py
	$(BIN)/python bench/cluster.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/memory.py

# Refresh the lock after changing dependencies in pyproject.toml.
lock: | $(BIN)/python
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/python -m pip install --quiet '.[dev]'
	.lockvenv/bin/python -m pip freeze --exclude-editable | grep -v '^alertbot' > constraints.txt
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
