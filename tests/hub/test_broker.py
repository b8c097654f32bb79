"""The broker's kind and what follows from it, as plain functions (tests/test_brokers.py runs the
processes on each broker)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from cdc_publisher.brokers import RABBITMQ, REDIS, UnsupportedBroker, broker_kind, declare_queue
from cdc_publisher.contract import BATCH_TASK
from core.broker import broker_countdown
from hub.settings import broker_settings


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("redis://127.0.0.1:6379/0", REDIS),
        ("rediss://:pw@redis.example.com:6380/1", REDIS),
        ("sentinel://s1:26379;sentinel://s2:26379", REDIS),
        ("amqp://guest:guest@127.0.0.1:5672/hub", RABBITMQ),
        ("amqps://u:p@mq.example.com//", RABBITMQ),
        ("amqp://a//;amqp://b//", RABBITMQ),
    ],
)
def test_the_broker_kind_comes_from_the_url_scheme(url, kind):
    assert broker_kind(url) == kind


def test_a_broker_the_hub_does_not_run_on_is_refused_by_its_scheme_alone():
    # Given an SQS URL with a secret in it
    with pytest.raises(ImproperlyConfigured) as refused:
        broker_settings("sqs://AKIA:s3cret@", ["cdc:prod"], 3600)

    # Then the error names the scheme and the supported ones, never the secret
    assert "CELERY_BROKER_URL: broker URL scheme sqs:// is not supported" in str(refused.value)
    assert "s3cret" not in str(refused.value)


def test_failover_urls_of_two_kinds_are_refused():
    with pytest.raises(UnsupportedBroker, match="mix Redis and RabbitMQ"):
        broker_kind("redis://a:6379/0;amqp://b//")


def test_on_rabbitmq_every_queue_is_a_durable_quorum_queue_with_a_topic_exchange():
    # When the settings are made for a RabbitMQ URL
    values = broker_settings("amqp://guest:guest@127.0.0.1:5672/hub", ["cdc:prod", "jira:retry"], 3600)

    # Then each queue is durable, quorum, bound to a topic exchange of its name (delayed delivery
    # cannot route through a direct one), publishes are confirmed and Redis's timeout is absent
    for queue in values["CELERY_TASK_QUEUES"]:
        assert queue.durable and queue.queue_arguments == {"x-queue-type": "quorum"}, queue.name
        exchange = (queue.exchange.name, queue.exchange.type, queue.routing_key)
        assert exchange == (queue.name, "topic", queue.name), queue.name
    assert values["CELERY_BROKER_TRANSPORT_OPTIONS"] == {"confirm_publish": True}
    assert values["CELERY_TASK_CREATE_MISSING_QUEUE_TYPE"] == "quorum"


def test_on_redis_the_queues_are_celerys_defaults_with_the_visibility_timeout():
    values = broker_settings("redis://127.0.0.1:6379/0", ["cdc:prod"], 1234)
    (queue,) = values["CELERY_TASK_QUEUES"]
    assert queue.queue_arguments is None and queue.exchange.type == "direct"
    options = values["CELERY_BROKER_TRANSPORT_OPTIONS"]
    assert options["visibility_timeout"] == 1234
    assert (options["unacked_restore_interval"], options["unacked_restore_throttle"]) == (10, 1), (
        "a message past the timeout is looked for every 10 s"
    )
    assert "CELERY_TASK_CREATE_MISSING_QUEUE_TYPE" not in values


def test_the_publisher_declares_its_queue_exactly_as_the_hub_does():
    for kind in (REDIS, RABBITMQ):
        url = "amqp://h//" if kind == RABBITMQ else "redis://h:6379/0"
        (hub_side,) = broker_settings(url, ["cdc:prod"], 3600)["CELERY_TASK_QUEUES"]
        publisher_side = declare_queue("cdc:prod", kind)
        assert publisher_side.as_dict(recurse=True) == hub_side.as_dict(recurse=True), kind


@pytest.mark.parametrize(("asked", "carried"), [(0.05, 1.0), (0.5, 1.0), (1.0, 1.0), (1.2, 2.0), (0, 0)])
def test_on_rabbitmq_a_countdown_is_whole_seconds_never_shorter(settings, asked, carried):
    # Celery's delayed delivery on quorum queues refuses a countdown under one second
    settings.HUB_BROKER = RABBITMQ
    assert broker_countdown(asked) == carried


def test_on_redis_a_countdown_is_left_as_asked(settings):
    settings.HUB_BROKER = REDIS
    assert broker_countdown(0.05) == 0.05


def test_every_task_is_routed_to_a_queue_of_the_hub_but_the_batch_which_its_sender_routes(settings):
    # A task left to Celery's router goes to its default queue, `celery`, which no worker of the
    # hub consumes: it would wait there unseen (so a batch's retry names its queue itself).
    from hub.celery import app

    app.loader.import_default_modules()
    unrouted = sorted(
        name
        for name in app.tasks
        if not name.startswith("celery.")
        and app.amqp.router.route({}, name)["queue"].name not in settings.HUB_QUEUE_NAMES
    )
    assert unrouted == [BATCH_TASK], unrouted
