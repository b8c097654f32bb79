from django.core.management.base import BaseCommand
from django.db.models import Count

from jira_bridge.bridge import get_bridge
from jira_bridge.models import TicketRequest
from notifications.records import dead_letter_counts, dead_letters


class Command(BaseCommand):
    help = "Show the Jira bridge's state: circuit breaker, shared budget, requests by state, dead letters."

    def handle(self, *args, **options):
        bridge = get_bridge()
        breaker, budget = bridge.breaker.state(), bridge.budget.state()
        opened = f", probe in {breaker.open_for:.1f} s" if breaker.state == "open" else ""
        paused = f", paused for {budget.paused_for:.1f} s (429)" if budget.paused_for else ""
        states = dict(TicketRequest.objects.values_list("state").annotate(n=Count("id")).order_by())
        dead, counts = dead_letters().count(), dead_letter_counts()
        batches = counts["batch"]
        self.stdout.write(f"breaker: {breaker.state} ({breaker.failures} failures in a row{opened})")
        self.stdout.write(f"budget: {budget.tokens:g} of {bridge.budget.burst} tokens{paused}")
        self.stdout.write("requests: " + (", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none"))
        kinds = f" ({counts['ticket_request']} ticket requests, {batches} stored batches)" if batches else ""
        self.stdout.write(f"dead letters waiting for replay: {dead}{kinds}")
