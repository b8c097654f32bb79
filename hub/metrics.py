"""Prometheus metrics, computed when scraped from the hub's own records and Redis: events in and
tickets out per environment and source, failures, queue and dead-letter depth, the age of each
environment's last position, the Jira breaker and budget."""

import time

from django.conf import settings
from django.db.models import Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from jira_bridge.bridge import get_bridge
from notifications import hot
from notifications.models import DailyStat
from notifications.records import dead_letter_counts

BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}


class HubCollector(Collector):
    def collect(self):
        totals = (
            DailyStat.objects.values("environment", "source")
            .annotate(events=Sum("events"), tickets=Sum("tickets"), failures=Sum("failures"),
                      duplicates=Sum("duplicates"), bad_input=Sum("bad_input"), silenced=Sum("silenced"))
            .order_by()
        )  # fmt: skip
        families = {
            name: CounterMetricFamily(f"hub_{name}", help_text, labels=["environment", "source"])
            for name, help_text in (
                ("events", "Events received"),
                ("tickets", "Tickets created"),
                ("failures", "Ticket requests that failed for good"),
                ("duplicates", "Redelivered events dropped"),
                ("bad_input", "Input lines or payloads rejected"),
                ("silenced", "Matches held back by a silence"),
            )
        }
        for row in totals:
            for name, family in families.items():
                family.add_metric([row["environment"], row["source"]], row[name] or 0)
        yield from families.values()

        depth = GaugeMetricFamily("hub_queue_depth", "Messages waiting per queue", labels=["queue"])
        held = GaugeMetricFamily(
            "hub_jobs_held_by_stopped_workers",
            "Jobs running on a worker that stopped announcing itself (back once the broker sees it gone)",
            labels=["queue"],
        )
        oldest = GaugeMetricFamily(
            "hub_jobs_held_seconds", "Seconds since the oldest held job started, per queue", labels=["queue"]
        )
        now = time.time()
        for queue in hot.queue_depths():
            depth.add_metric([queue["name"]], queue["waiting"])
            held.add_metric([queue["name"]], queue["held"])
            oldest.add_metric([queue["name"]], now - queue["held_since"] if queue["held"] else 0)
        yield from (depth, held, oldest)
        dead = GaugeMetricFamily(
            "hub_dead_letters", "Job failures waiting for replay: ticket requests and stored batches",
            labels=["kind"],
        )  # fmt: skip
        for kind, count in dead_letter_counts().items():
            dead.add_metric([kind], count)
        yield dead

        age = GaugeMetricFamily(
            "hub_publisher_position_age_seconds",
            "Seconds since the hub received a batch (and with it the last position) from an environment",
            labels=["environment", "source"],
        )
        for publisher in hot.publishers(settings.HUB_ENVIRONMENTS):
            if publisher["age_seconds"] is not None:
                age.add_metric([publisher["environment"], publisher["source"]], publisher["age_seconds"])
        yield age

        bridge = get_bridge()
        breaker, budget = bridge.breaker.state(), bridge.budget.state()
        yield GaugeMetricFamily(
            "hub_jira_breaker_state", "Jira circuit breaker: 0 closed, 1 half-open, 2 open",
            value=BREAKER_STATES.get(breaker.state, 2),
        )  # fmt: skip
        yield GaugeMetricFamily(
            "hub_jira_budget_tokens", "Tokens left in the shared Jira budget", value=budget.tokens
        )
        yield GaugeMetricFamily(
            "hub_jira_budget_paused_seconds", "Seconds left of a 429 pause", value=budget.paused_for
        )
