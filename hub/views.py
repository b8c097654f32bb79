from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from hub.health import report
from hub.metrics import HubCollector


def health(request: HttpRequest) -> JsonResponse:
    """Public: the database, Redis, the broker (503 if any is down) and live workers ("degraded"
    when there are none). Nothing else about the hub."""
    body, healthy = report()
    return JsonResponse(body, status=200 if healthy else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard:live")


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for a logged-in staff user or ``Authorization: Bearer
    HUB_METRICS_TOKEN`` (what a Prometheus scrape job sends)."""
    token = settings.HUB_METRICS_TOKEN
    bearer = request.headers.get("Authorization", "") == f"Bearer {token}" if token else False
    if not (bearer or (request.user.is_authenticated and request.user.is_staff)):
        return HttpResponse("authentication required\n", status=401, content_type="text/plain")
    registry = CollectorRegistry()
    registry.register(HubCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
