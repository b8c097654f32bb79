"""Settings for the test suite: the hub's own, on a Redis database of its own (15) and with no
real Jira unless a test starts the fake one."""

import os

from hub.settings import *  # noqa: F403

REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CELERY_BROKER_URL = REDIS_URL
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
JIRA_TIMEOUT = 2.0
JIRA_LEASE_MARGIN = 1.0
JIRA_RECONCILE_WINDOW = float(os.environ.get("HUB_TEST_RECONCILE_WINDOW", "1.0"))
JIRA_RECONCILE_FIRST_LOOK = 0.1
JIRA_BREAKER_COOLDOWN = 1.0
JIRA_RATE = float(os.environ.get("HUB_TEST_JIRA_RATE", "50"))
JIRA_BURST = int(os.environ.get("HUB_TEST_JIRA_BURST", "20"))
