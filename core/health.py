"""What /health reports: the database, Redis, the broker, and how many workers sent a heartbeat
lately. Workers announce themselves in Redis with each Celery heartbeat (every 2 s with events on)."""

import logging
import socket
import threading
import time

import redis
from django.conf import settings
from django.db import connection
from kombu import Connection

from core.redis import hub_redis

log = logging.getLogger(__name__)

WORKERS_KEY = "hub:workers"  # sorted set: worker hostname scored by its last heartbeat
ALIVE_EVERY = 2.0  # seconds between a worker's announcements


def note_worker_alive(hostname: str | None = None) -> None:
    hub_redis().zadd(WORKERS_KEY, {hostname or socket.gethostname(): time.time()})


def keep_announcing(hostname: str, stop: threading.Event) -> threading.Thread:
    """Announce a worker every ALIVE_EVERY seconds from a thread of its own until ``stop`` is
    set. Celery's own heartbeat is silent while a solo-pool worker runs a task (its event loop is
    busy), so a worker in a two-minute batch would look dead; this thread goes on while the
    process lives, and stops with it: silence then means the worker is gone."""

    def run() -> None:
        while not stop.is_set():
            try:
                note_worker_alive(hostname)
            except redis.RedisError as exc:
                log.warning("could not announce worker %s: %r", hostname, exc)
            stop.wait(ALIVE_EVERY)

    thread = threading.Thread(target=run, name="hub-worker-alive", daemon=True)
    thread.start()
    return thread


def live_workers(client: redis.Redis | None = None) -> set[str]:
    """Hostnames of the workers heard from in the last HUB_WORKER_TTL seconds."""
    members = (client or hub_redis()).zrangebyscore(
        WORKERS_KEY, time.time() - settings.HUB_WORKER_TTL, "+inf"
    )
    return {m.decode() if isinstance(m, bytes) else m for m in members}


def count_workers(client: redis.Redis | None = None) -> int:
    """Workers heard from in the last HUB_WORKER_TTL seconds (silent ones are dropped here)."""
    pipe = (client or hub_redis()).pipeline(transaction=False)
    pipe.zremrangebyscore(WORKERS_KEY, "-inf", time.time() - settings.HUB_WORKER_TTL)
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
