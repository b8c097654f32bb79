"""The two brokers the hub runs on, Redis and RabbitMQ: which one a broker URL names, how a queue is
declared on it, and the transport options each takes.

The hub's settings and the publisher both build their queues here, so both ends declare a queue
alike: RabbitMQ refuses a second declaration that differs from the first (PRECONDITION_FAILED,
"inequivalent arg 'x-queue-type'"), and a publisher that declared `cdc:prod` its own way would
keep every batch in its spool.

Imports only kombu: the publisher runs on environment machines without the hub.
"""

from kombu import Exchange, Queue

REDIS = "redis"
RABBITMQ = "rabbitmq"
# kombu's names for the transports the hub supports (sentinel:// is Redis behind Sentinel).
SCHEMES = {
    "redis": REDIS,
    "rediss": REDIS,
    "redis+socket": REDIS,
    "sentinel": REDIS,
    "amqp": RABBITMQ,
    "amqps": RABBITMQ,
    "pyamqp": RABBITMQ,
}


class UnsupportedBroker(ValueError):
    """A broker URL the hub does not run on."""


def broker_kind(url: str) -> str:
    """REDIS or RABBITMQ for a broker URL (several, for failover, joined by ';', all one kind)."""
    kinds = set()
    for each in url.split(";"):
        scheme = each.strip().partition("://")[0].lower()
        if scheme not in SCHEMES:
            raise UnsupportedBroker(
                f"broker URL scheme {scheme + '://' if scheme else '(none)'} is not supported: "
                "use redis://, rediss:// or sentinel:// for Redis, amqp:// or amqps:// for RabbitMQ"
            )
        kinds.add(SCHEMES[scheme])
    if len(kinds) > 1:
        raise UnsupportedBroker("the failover broker URLs mix Redis and RabbitMQ: use one kind")
    return kinds.pop()


def declare_queue(name: str, kind: str) -> Queue:
    """The queue ``name`` as the hub and the publisher both declare it.

    On RabbitMQ: a durable quorum queue (replicated, and it keeps every message until it is
    acknowledged), bound to a durable topic exchange of its own name: Celery's native delayed
    delivery, which carries countdowns on quorum queues, cannot route through a direct one.
    On Redis: Celery's default (a list named like the queue)."""
    if kind == RABBITMQ:
        return Queue(
            name,
            Exchange(name, type="topic", durable=True),
            routing_key=name,
            durable=True,
            queue_arguments={"x-queue-type": "quorum"},
        )
    return Queue(name)


def transport_options(
    kind: str, *, visibility_timeout: int | None = None, socket_timeout: float | None = None
) -> dict:
    """Celery's broker_transport_options for the kind. Redis: the visibility timeout (for those
    that consume; kombu's default, an hour, without). RabbitMQ:
    publisher confirms (a publish returns once the broker has the message, and raises if it
    refused it). With ``socket_timeout``, a broker that stops answering raises after that many
    seconds instead of holding the caller (the publisher, which then spools)."""
    if kind == RABBITMQ:
        options: dict = {"confirm_publish": True}
        if socket_timeout is not None:
            options.update(read_timeout=socket_timeout, write_timeout=socket_timeout)
        return options
    options = {}
    if visibility_timeout is not None:
        # kombu looks for messages past their visibility timeout every 10 s but scans only every
        # 10th look (the throttle): a killed worker's batch came back up to 100 s after the
        # timeout. Scanning at every look bounds that at 10 s, for one small query per 10 s.
        options = {"visibility_timeout": visibility_timeout, "unacked_restore_interval": 10,
                   "unacked_restore_throttle": 1}  # fmt: skip
    if socket_timeout is not None:
        options.update(socket_connect_timeout=min(5.0, socket_timeout), socket_timeout=socket_timeout)
    return options
