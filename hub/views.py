from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

from hub.health import report


def health(request: HttpRequest) -> JsonResponse:
    """Public: the database, Redis, the broker (503 if any is down) and live workers ("degraded"
    when there are none). Nothing else about the hub."""
    body, healthy = report()
    return JsonResponse(body, status=200 if healthy else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("admin:index")
