# The hub's two everyday commands: `make run` (set up and start everything) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test lint demo demo-files bench install

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

# With `make run` going: a local directory watched like a bucket; a new file becomes a ticket.
DROP := --env dev --endpoint file://$(CURDIR)/examples/drop --bucket local-drop
demo-files: install
	$(PY) manage.py import_rules examples/rules.yaml
	$(PY) manage.py watch_bucket $(DROP)
	$(PY) manage.py watch_bucket $(DROP) --check-now
	date > examples/drop/report-$$(date +%s).txt
	$(PY) manage.py watch_bucket $(DROP) --check-now

bench: install
	$(PY) -m bench.jira_bridge
	$(PY) -m bench.cdc
	$(PY) -m bench.oss
	$(PY) -m bench.dashboard
