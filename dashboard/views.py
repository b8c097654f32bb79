"""The hub's pages beside the admin (staff logins only): the live page and its event stream, one
job, one ticket request with its events (by id or by ledger key), and the error viewer with replay
for operators."""

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_eventstream.views import events

from core.roles import RAW_INPUT_PERMISSION, REPLAY_PERMISSION
from dashboard import queries
from dashboard.snapshot import page
from jira_bridge.models import TicketRequest
from notifications.models import JobFailure, Source
from pipeline.replay import replay_one


def show(request: HttpRequest, template: str, title: str, **context) -> HttpResponse:
    """Render one of the hub's pages inside the admin's frame (its header and user links)."""
    frame = {**admin.site.each_context(request), "is_nav_sidebar_enabled": False}
    return render(request, template, {**frame, "title": title, **context})


@never_cache
@staff_member_required
def live(request: HttpRequest) -> HttpResponse:
    return show(request, "dashboard/live.html", "Live", initial=page())


def live_events(request: HttpRequest) -> HttpResponse:
    """The live page's server-sent events (django-eventstream; see notifications.live)."""
    if not (request.user.is_authenticated and request.user.is_active and request.user.is_staff):
        return HttpResponse("authentication required\n", status=401, content_type="text/plain")
    return events(request)


@staff_member_required
def job(request: HttpRequest, task_id: str) -> HttpResponse:
    found = queries.find_job(task_id)
    if found is None:
        raise Http404("no such job (recent jobs are kept in Redis, older ones as task results)")
    return show(request, "dashboard/job.html", f"Job {task_id}", job=found)


@staff_member_required
def ticket(request: HttpRequest, pk: int) -> HttpResponse:
    view = queries.ticket_view(pk)
    if view is None:
        raise Http404("no such ticket request")
    return show(request, "dashboard/ticket.html", f"Ticket request {pk}", view=view,
                can_replay=request.user.has_perm(REPLAY_PERMISSION))  # fmt: skip


@staff_member_required
def ticket_by_key(request: HttpRequest, key: str) -> HttpResponse:
    """A request by its ledger key: the link a cut description carries, written before the
    request had an id."""
    pk = TicketRequest.objects.filter(key=key).values_list("pk", flat=True).first()
    if pk is None:
        raise Http404("no ticket request with this key")
    return redirect("dashboard:ticket", pk=pk)


@staff_member_required
def errors(request: HttpRequest) -> HttpResponse:
    try:
        filters = queries.Filters.from_query(request.GET)
    except queries.BadFilter as exc:  # refused, with the reason, never silently widened
        return HttpResponse(f"bad filter: {exc}\n", status=400, content_type="text/plain")
    failures = Paginator(filters.failures(), 50).get_page(request.GET.get("failures_page"))
    error_rows = Paginator(filters.errors(), 50).get_page(request.GET.get("page"))
    return show(request, "dashboard/errors.html", "Errors and failures", filters=filters, errors=error_rows,
                failures=failures, sources=Source.choices,
                can_replay=request.user.has_perm(REPLAY_PERMISSION),
                can_see_raw=request.user.has_perm(RAW_INPUT_PERMISSION))  # fmt: skip


@require_POST
@staff_member_required
def replay(request: HttpRequest, pk: int) -> HttpResponse:
    """Replay one dead letter through the ledger (operators only)."""
    if not request.user.has_perm(REPLAY_PERMISSION):
        return HttpResponse("operators only\n", status=403, content_type="text/plain")
    try:
        plan, _ = replay_one(pk, actor=request.user.get_username())
    except JobFailure.DoesNotExist as exc:
        raise Http404("no such job failure") from exc
    messages.info(request, f"Replay of failure {pk}: {plan.summary()}")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = "dashboard:errors"
    return redirect(back)
