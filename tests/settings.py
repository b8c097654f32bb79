"""Settings for the test suite: the hub's own, on a Redis database of its own (15), on that Redis
or RabbitMQ as the broker, and with no real Jira unless a test starts the fake one."""

import os

from hub.settings import *  # noqa: F403

REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# The broker: the tests' Redis, or HUB_TEST_BROKER_URL (amqp://guest:guest@127.0.0.1:5672/VHOST
# for RabbitMQ: the session makes that vhost afresh and deletes it after, see tests/brokers.py).
CELERY_BROKER_URL = os.environ.get("HUB_TEST_BROKER_URL") or REDIS_URL
globals().update(broker_settings(CELERY_BROKER_URL, HUB_QUEUE_NAMES, CELERY_VISIBILITY_TIMEOUT))  # noqa: F405
EVENTSTREAM_REDIS = parse_redis_url(REDIS_URL)  # noqa: F405
JIRA_URL = os.environ.get("HUB_TEST_JIRA_URL", "")
JIRA_USER = "hub-bot"
JIRA_API_TOKEN = "test-token"
JIRA_BACKOFF_BASE = 0.05
JIRA_BACKOFF_MAX = 0.5
HUB_ENVIRONMENTS = ["dev", "staging", "prod"]
STATIC_ROOT = None  # nothing collected: whitenoise serves the apps' static files as they are
WHITENOISE_USE_FINDERS = True
# Short waits, so that tests of ambiguity, breakers and leases finish in seconds.
JIRA_TIMEOUT = float(os.environ.get("HUB_TEST_JIRA_TIMEOUT", "2.0"))
JIRA_LEASE_MARGIN = 1.0
JIRA_RECONCILE_WINDOW = float(os.environ.get("HUB_TEST_RECONCILE_WINDOW", "1.0"))
JIRA_RECONCILE_FIRST_LOOK = 0.1
JIRA_BREAKER_COOLDOWN = 1.0
JIRA_RATE = float(os.environ.get("HUB_TEST_JIRA_RATE", "50"))
JIRA_BURST = int(os.environ.get("HUB_TEST_JIRA_BURST", "20"))
