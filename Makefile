# The hub's two everyday commands: `make run` (set up and start everything) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test test-rabbitmq rabbitmq lint chromium demo demo-files bench install

$(VENV)/.installed: requirements/base.txt requirements/publisher.txt requirements/dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements/dev.txt
	touch $@

install: $(VENV)/.installed

run: install
	bin/run

test: chromium rabbitmq install lint
	$(VENV)/bin/pytest
	$(MAKE) --no-print-directory test-rabbitmq

# The tests marked `brokers` (end to end, faults with workers, the publisher's) again on RabbitMQ,
# in a vhost of this run's own ($$$$: the shell's PID), made and deleted by the test session.
RABBITMQ_TEST_URL ?= amqp://guest:guest@127.0.0.1:5672
test-rabbitmq: rabbitmq install
	HUB_TEST_BROKER_URL=$(RABBITMQ_TEST_URL)/hub-test-$$$$ $(VENV)/bin/pytest -m brokers

rabbitmq:
	@rabbitmqctl -q status >/dev/null 2>&1 || { echo "make test needs RabbitMQ for the broker tests (guest/guest on 127.0.0.1:5672, and rabbitmqctl): apt-get install rabbitmq-server, then rabbitmq-server -detached" >&2; exit 1; }

# The browser test drives Debian's Chromium: stop at once, with the command, rather than fail late.
CHROMIUM ?= $(or $(HUB_CHROMIUM),/usr/bin/chromium)
chromium:
	@test -x "$(CHROMIUM)" || { echo "make test needs Chromium for the browser test: apt-get install chromium (or set HUB_CHROMIUM to one)" >&2; exit 1; }

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
	$(PY) -m bench.isolation
	$(PY) -m bench.lines
