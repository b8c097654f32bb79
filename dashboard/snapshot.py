"""What the live page shows, in one dict: queues, rates, the Jira breaker and budget, workers,
each environment's publisher.
Recent figures come from Redis (notifications.hot); the days before today from DailyStat."""

import datetime as dt
import time
from typing import Any

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

from core.health import count_workers
from jira_bridge.bridge import get_bridge
from notifications import hot
from notifications.live import publish
from notifications.models import DailyStat, ErrorLog, JobFailure
from notifications.records import error_summary

TICK_KEY = "hub:live:tick"
TICK_MS = 1900  # at most one snapshot per ~2 s, whichever worker gets there first
_last_try = float("-inf")  # when this process last tried to publish a snapshot
RATES = ("events", "tickets")
LAST_24H = ("events", "matched", "tickets", "failures", "bad_input")


def queue_state() -> dict[str, Any]:
    """Per queue: waiting, active, scheduled and dead letters; the Jira breaker and budget; workers."""
    dead = dict(
        JobFailure.objects.filter(state=JobFailure.State.FAILED)
        .values_list("queue")
        .annotate(n=Count("id"))
        .order_by()
    )
    queues = hot.queue_depths()
    for queue in queues:
        queue["dead_letter"] = dead.pop(queue["name"], 0)
    if dead:  # failures of a queue no longer configured: still shown, never hidden
        queues.append(
            {
                "name": "other",
                "waiting": 0,
                "active": 0,
                "scheduled": 0,
                "held": 0,
                "held_since": None,
                "dead_letter": sum(dead.values()),
            }  # fmt: skip
        )
    bridge = get_bridge()
    breaker, budget = bridge.breaker.state(), bridge.budget.state()
    return {
        "queues": queues,
        "breaker": {"state": breaker.state, "failures": breaker.failures},
        "budget": {"tokens": budget.tokens, "burst": settings.JIRA_BURST, "paused_for": budget.paused_for},
        "workers": count_workers(),
    }


def snapshot() -> dict[str, Any]:
    """queue_state, with the per-minute rates of the last hour and the last 24 h's totals."""
    envs = settings.HUB_ENVIRONMENTS
    hourly = hot.per_hour(envs, LAST_24H)
    return {
        **queue_state(),
        "at": timezone.now().isoformat(),
        "environments": envs,
        "per_minute": hot.per_minute(envs, RATES),
        "last_24h": {env: {name: sum(values) for name, values in hourly[env].items()} for env in envs},
        "publishers": hot.publishers(envs),
    }


def earlier_days(days: int = 7) -> list[dict[str, Any]]:
    """DailyStat totals per day and environment, before today (today is in last_24h)."""
    today = timezone.now().date()
    return list(
        DailyStat.objects.filter(day__gte=today - dt.timedelta(days=days), day__lt=today)
        .values("day", "environment")
        .annotate(
            events=Sum("events"), matched=Sum("matched"), tickets=Sum("tickets"),
            failures=Sum("failures"), bad_input=Sum("bad_input"),
        )
        .order_by("-day", "environment")
    )  # fmt: skip


def latest_errors(limit: int = 10) -> list[dict[str, Any]]:
    return [error_summary(error) for error in ErrorLog.objects.all()[:limit]]


def page(limit: int = 50) -> dict[str, Any]:
    """Everything the live page starts from; later changes arrive as server-sent events."""
    return {
        **snapshot(),
        "jobs": hot.recent_jobs(limit=limit),
        "errors": latest_errors(),
        "earlier_days": [{**row, "day": row["day"].isoformat()} for row in earlier_days()],
    }


def publish_snapshot() -> bool:
    """Publish the live page's snapshot (after every job, and at every worker heartbeat), unless
    this process tried in the last ~2 s or another process did (checked in Redis only once this
    process's own wait is over: most jobs pay nothing for it)."""
    global _last_try
    now = time.monotonic()
    if now - _last_try < TICK_MS / 1000:
        return False
    _last_try = now
    if not hot.hub_redis().set(TICK_KEY, 1, nx=True, px=TICK_MS):
        return False
    publish("snapshot", snapshot())
    return True
