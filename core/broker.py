"""What the hub asks of its broker besides carrying tasks, on Redis and RabbitMQ alike
(cdc_publisher.brokers): how many messages wait in each queue, and, on RabbitMQ, every queue
declared before a worker starts consuming. The hot state lives in REDIS_URL's Redis whichever the
broker is (core.redis); this reads CELERY_BROKER_URL's."""

import logging
import math
from functools import cache
from urllib.parse import urlsplit

import redis
from celery import Celery
from django.conf import settings

from cdc_publisher.brokers import RABBITMQ

log = logging.getLogger(__name__)


@cache
def broker_redis() -> redis.Redis | None:
    """A client for the broker when it is a Redis that redis-py reaches by URL (redis://,
    rediss://), else None (RabbitMQ, Sentinel, a socket: asked through kombu)."""
    if urlsplit(settings.CELERY_BROKER_URL).scheme not in {"redis", "rediss"}:
        return None
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5, socket_connect_timeout=5)


def waiting_messages(names: list[str]) -> list[int]:
    """Messages waiting in each queue (ready for a worker: not those a worker holds, nor, on
    RabbitMQ, countdowns still in Celery's delayed-delivery queues); 0 for a queue never declared.
    Raises what the broker's client raises when the broker is unreachable."""
    client = broker_redis()
    if client is not None:  # a Celery queue on Redis is a list of that name: one round trip for all
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.llen(name)
        return pipe.execute()
    from celery import current_app as app  # the hub's (hub.celery), which this floor does not import

    counts = []
    with app.pool.acquire(block=True, timeout=5) as conn:
        channel = conn.channel()
        try:
            for name in names:
                try:  # passive: asks about the queue, never creates it
                    counts.append(channel.queue_declare(name, passive=True).message_count)
                except conn.channel_errors:  # not declared (yet): nothing waits; the channel is closed
                    counts.append(0)
                    channel = conn.channel()
        finally:
            channel.close()
    return counts


def broker_countdown(seconds: float) -> float:
    """A countdown the broker can carry. On RabbitMQ, whole seconds rounded up: Celery's native
    delayed delivery, which carries countdowns on quorum queues, counts whole seconds and refuses
    one under a second (ValueError "countdown must be a positive number", and the task is lost).
    Never shorter than asked: a wait for Jira's budget or a 429's pause must not end early."""
    if settings.HUB_BROKER == RABBITMQ and seconds > 0:
        return float(math.ceil(seconds))
    return seconds


def declare_every_queue(app: Celery) -> None:
    """On RabbitMQ, declare every queue of the hub and its exchange. A worker binds every queue
    the hub knows, consumed or not (jira:retry is not), to Celery's delayed-delivery exchange as
    it starts; a binding to an exchange nobody declared yet fails, and countdowns to that queue
    would then wait in the worker instead. Best effort: the worker goes on if this fails."""
    if settings.HUB_BROKER != RABBITMQ:
        return
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=3)
            channel = conn.default_channel
            for queue in app.amqp.queues.values():
                queue.bind(channel).declare()
    except Exception:  # noqa: BLE001 - the worker's own connection retries; this only helps
        log.warning("could not declare the hub's queues before starting", exc_info=True)
