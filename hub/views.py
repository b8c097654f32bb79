from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect


def health(request: HttpRequest) -> JsonResponse:
    """Public liveness: whether the database answers. Says nothing else about the hub."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        ok = True
    except Exception:  # noqa: BLE001 - any failure means "not healthy"; the reason is not public
        ok = False
    return JsonResponse({"status": "ok" if ok else "unavailable"}, status=200 if ok else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("admin:index")
