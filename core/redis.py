"""The hub's one Redis client per process (its pool is shared by every caller): the Jira budget
and breaker, OSS check locks, pending-update slots, worker heartbeats, health and metrics."""

from functools import cache

import redis
from django.conf import settings


@cache
def hub_redis() -> redis.Redis:
    # Timeouts: a health check or a lock must fail fast, never hang a worker or the web process.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
