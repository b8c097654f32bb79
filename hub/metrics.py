"""Prometheus metrics, computed when scraped from the hub's own records and Redis: events in and
tickets out per environment and source, failures, queue and dead-letter depth, the Jira breaker
and budget."""

from django.db.models import Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from jira_bridge.bridge import get_bridge
from notifications import hot
from notifications.models import DailyStat, JobFailure

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
        for queue in hot.queue_depths():
            depth.add_metric([queue["name"]], queue["waiting"])
        yield depth
        dead = JobFailure.objects.filter(state=JobFailure.State.FAILED).count()
        yield GaugeMetricFamily("hub_dead_letters", "Job failures waiting for replay", value=dead)

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
