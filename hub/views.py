import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from core.health import report
from core.throttle import Throttled, count_token, refusal, uncount_token
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
    HUB_METRICS_TOKEN`` (what a Prometheus scrape job sends). A wrong token counts against its
    client as on the API (core.throttle)."""
    try:
        bearer = metrics_token_matches(request)
    except Throttled as exc:
        return refusal(exc)
    if not (bearer or (request.user.is_authenticated and request.user.is_staff)):
        return HttpResponse("authentication required\n", status=401, content_type="text/plain")
    registry = CollectorRegistry()
    registry.register(HubCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def metrics_token_matches(request: HttpRequest) -> bool:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    count_token(request)  # as refused until it proves good (core.throttle)
    token = settings.HUB_METRICS_TOKEN
    # compare_digest: the time taken does not tell how much of a guess was right
    if token and hmac.compare_digest(presented.encode(), token.encode()):
        uncount_token(request)
        return True
    return False
