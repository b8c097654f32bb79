"""What /health reports: the database, Redis, the broker, and how many workers sent a heartbeat
lately. Workers announce themselves in Redis with each Celery heartbeat (every 2 s with events on)."""

import socket
import time

import redis
from django.conf import settings
from django.db import connection
from kombu import Connection

from hub.redis import hub_redis

WORKERS_KEY = "hub:workers"  # sorted set: worker hostname scored by its last heartbeat
WORKER_TTL = 30  # seconds: a worker silent this long is not counted


def note_worker_alive(hostname: str | None = None) -> None:
    hub_redis().zadd(WORKERS_KEY, {hostname or socket.gethostname(): time.time()})


def count_workers(client: redis.Redis | None = None) -> int:
    """Workers heard from in the last WORKER_TTL seconds (silent ones are dropped here)."""
    pipe = (client or hub_redis()).pipeline(transaction=False)
    pipe.zremrangebyscore(WORKERS_KEY, "-inf", time.time() - WORKER_TTL)
    pipe.zcard(WORKERS_KEY)
    return pipe.execute()[1]


def check_database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means "down"; the reason is not public
        return False


def check_redis() -> tuple[bool, int]:
    """Whether Redis answers, and how many workers it has heard from."""
    try:
        client = hub_redis()
        client.ping()
        return True, count_workers(client)
    except redis.RedisError:
        return False, 0


def check_broker() -> bool:
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:  # noqa: BLE001 - any failure means "down"
        return False


def report() -> tuple[dict, bool]:
    database, (redis_ok, workers) = check_database(), check_redis()
    broker = check_broker()
    healthy = database and redis_ok and broker
    status = "ok" if healthy and workers else ("degraded" if healthy else "unavailable")
    return {
        "status": status,
        "database": database,
        "redis": redis_ok,
        "broker": broker,
        "workers": workers,
    }, healthy
