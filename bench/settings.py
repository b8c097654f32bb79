"""Settings for benchmarks: the hub's own, on a database and a Redis database of their own."""

import os

from hub.settings import *  # noqa: F403
from hub.settings import DATABASES

DATABASES["default"]["NAME"] = os.environ.get("HUB_BENCH_DB", "eventhub_bench")
REDIS_URL = os.environ.get("HUB_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
CELERY_BROKER_URL = REDIS_URL  # the benchmarks read the queues as Redis lists: Redis only
globals().update(broker_settings(CELERY_BROKER_URL, HUB_QUEUE_NAMES, CELERY_VISIBILITY_TIMEOUT))  # noqa: F405
EVENTSTREAM_REDIS = parse_redis_url(REDIS_URL)  # noqa: F405
CELERY_RESULT_BACKEND = None  # the baseline stores no results either
JIRA_URL = os.environ.get("HUB_BENCH_JIRA_URL", "")
JIRA_USER, JIRA_API_TOKEN = "hub-bot", "test-token"
JIRA_RATE = float(os.environ.get("HUB_BENCH_JIRA_RATE", "1000000"))  # the budget is not what is measured
JIRA_BURST = int(os.environ.get("HUB_BENCH_JIRA_BURST", "1000000"))
JIRA_UPDATE_RESERVE = 0
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
