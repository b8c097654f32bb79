# The hub's two everyday commands: `make run` (set up and start everything) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test lint demo bench install

$(VENV)/.installed: requirements/base.txt requirements/publisher.txt requirements/dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements/dev.txt
	touch $@

install: $(VENV)/.installed

run: install
	bin/run

test: install lint
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# With `make run` going in another terminal: example rules in, example Maxwell file through.
demo: install
	$(PY) manage.py import_rules examples/rules.yaml
	$(PY) -m cdc_publisher --env prod < examples/maxwell-prod.jsonl

bench: install
	$(PY) -m bench.jira_bridge
	$(PY) -m bench.cdc
