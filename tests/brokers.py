"""The broker the tests run on, Redis or RabbitMQ, and what a test needs to look into it.

By default the tests' broker is their Redis (HUB_TEST_REDIS_URL). With
``HUB_TEST_BROKER_URL=amqp://guest:guest@127.0.0.1:5672/VHOST`` it is RabbitMQ: the session makes
VHOST afresh (deleting one left by an earlier run) and deletes it at the end, so runs never share
queues; each test starts with the hub's queues empty (``purge``). ``make test`` runs the tests
marked ``brokers`` a second time on RabbitMQ.

For a test (or a bench) that wants a RabbitMQ of its own, apart from the session's::

    with rabbitmq_vhost() as url:          # amqp://guest:guest@127.0.0.1:5672/hub-test-<random>
        ...                                # CELERY_BROKER_URL=url for the processes it starts

RabbitMQ's own tools do the vhost work (``rabbitmqctl add_vhost``, ``set_permissions``,
``delete_vhost``; about a second each), so a vhost per session or per module, not per test.
"""

import base64
import contextlib
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit, urlunsplit

import redis
from kombu import Connection
from kombu.exceptions import OperationalError
from kombu.transport.native_delayed_delivery import level_name

from cdc_publisher.brokers import RABBITMQ, REDIS, broker_kind

RABBITMQCTL = os.environ.get("HUB_RABBITMQCTL", "rabbitmqctl")
RABBITMQ_BASE_URL = os.environ.get("HUB_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
DELAYED_QUEUES = [level_name(level) for level in range(28)]  # Celery's native delayed delivery


def kind_of(url: str) -> str:
    return broker_kind(url)


def is_rabbitmq(url: str) -> bool:
    return broker_kind(url) == RABBITMQ


def vhost_of(url: str) -> str:
    """The vhost an amqp:// URL names (kombu's reading: the path without its first slash)."""
    path = urlsplit(url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def with_vhost(url: str, vhost: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + vhost))


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run([RABBITMQCTL, "-q", *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        said = done.stderr.strip() or done.stdout.strip()
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {said}")
    return done.stdout


def create_vhost(url: str) -> None:
    """Make the URL's vhost afresh (an older one of that name is deleted first), open to its user."""
    vhost, user = vhost_of(url), unquote(urlsplit(url).username or "guest")
    if vhost == "/":
        raise ValueError("the tests never use RabbitMQ's default vhost '/': name one in the URL")
    delete_vhost(url)
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")


def delete_vhost(url: str) -> None:
    vhost = vhost_of(url)
    if vhost in rabbitmqctl("list_vhosts", "name").split():
        rabbitmqctl("delete_vhost", vhost)


@contextlib.contextmanager
def rabbitmq_vhost(name: str = "", base_url: str = RABBITMQ_BASE_URL) -> Iterator[str]:
    """A vhost of its own (``hub-test-<random>`` unless named) on the machine's RabbitMQ, for the
    length of the block; yields its amqp:// URL."""
    url = with_vhost(base_url, name or f"hub-test-{secrets.token_hex(4)}")
    create_vhost(url)
    try:
        yield url
    finally:
        delete_vhost(url)


def rabbitmq_running() -> bool:
    try:
        with Connection(RABBITMQ_BASE_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except OperationalError:
        return False


# --- Looking into the broker ------------------------------------------------------------------


def purge(url: str, queues: list[str]) -> None:
    """Empty the queues (and, on RabbitMQ, Celery's delayed-delivery queues): ready messages only,
    so call it with no worker holding any. On Redis the tests empty their whole database instead."""
    if not is_rabbitmq(url):
        return
    with Connection(url, connect_timeout=5) as conn:
        for name in [*queues, *DELAYED_QUEUES]:
            channel = conn.channel()
            try:
                channel.queue_purge(name)
            except conn.channel_errors:  # never declared: nothing to purge (and the channel is closed)
                pass
            finally:
                with contextlib.suppress(Exception):
                    channel.close()


def depth(url: str, queue: str) -> int:
    """Messages waiting (ready, not held by a worker) in a queue; 0 for one never declared."""
    if broker_kind(url) == REDIS:
        return redis.Redis.from_url(url).llen(queue)
    with Connection(url, connect_timeout=5) as conn:
        channel = conn.channel()
        try:
            return channel.queue_declare(queue, passive=True).message_count
        except conn.channel_errors:
            return 0
        finally:
            with contextlib.suppress(Exception):
                channel.close()


def peek(url: str, queue: str) -> list[dict]:
    """The Celery messages waiting in a queue, oldest first, left where they are: each as
    ``{"headers": ..., "body": [args, kwargs, embed]}``."""
    if broker_kind(url) == REDIS:
        raw = reversed(redis.Redis.from_url(url).lrange(queue, 0, -1))
        messages = [json.loads(each) for each in raw]
        return [{"headers": m["headers"], "body": json.loads(base64.b64decode(m["body"]))} for m in messages]
    messages = []
    with Connection(url, connect_timeout=5) as conn:
        channel = conn.channel()
        try:
            # Fetched unacknowledged, then the channel closes: RabbitMQ puts them all back, in order.
            while (message := channel.basic_get(queue, no_ack=False)) is not None:
                messages.append({"headers": message.headers, "body": json.loads(message.body)})
        except conn.channel_errors:  # never declared
            return []
        finally:
            with contextlib.suppress(Exception):
                channel.close()
    return messages
