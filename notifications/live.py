"""Server-sent events for the live page: any process (a worker, the web) publishes; every web
process streams to its logged-in browsers. django-eventstream carries them through Redis pub/sub
(EVENTSTREAM_REDIS), so a worker's event reaches a browser connected to any web process."""

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)


def live_channel() -> str:
    """The live page's channel, named by the hub's Redis database: django-eventstream publishes
    every channel on one Redis pub/sub name, which is not per database, so two hubs sharing a
    Redis server (on databases of their own) would otherwise stream each other's jobs."""
    return f"hub-live-db{settings.EVENTSTREAM_REDIS.get('db', 0)}"


def publish(event_type: str, data: Any) -> None:
    """Send an event to the live page. Never raises: the page is a view of the work, and a Redis
    hiccup must not fail the work itself."""
    from django_eventstream import send_event

    try:
        send_event(live_channel(), event_type, data)
    except Exception:  # noqa: BLE001 - see docstring; logged, the next snapshot catches up
        log.warning("live page: could not publish %s", event_type, exc_info=True)


def publish_on_commit(event_type: str, data: Any) -> None:
    transaction.on_commit(lambda: publish(event_type, data))


class LiveChannels:
    """django-eventstream channel manager: the one live channel, for staff accounts only."""

    def get_channels_for_request(self, request, view_kwargs) -> set[str]:
        return {live_channel()}

    def can_read_channel(self, user, channel: str) -> bool:
        return channel == live_channel() and user is not None and user.is_active and user.is_staff

    def is_channel_reliable(self, channel: str) -> bool:
        return False  # a browser that reconnects reloads the snapshot; nothing to replay
