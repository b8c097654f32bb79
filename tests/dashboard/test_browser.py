"""The live page in a real browser (Debian's chromium, headless, driven by Playwright): log in,
open the live page, publish a change, and see it arrive without a reload. With
HUB_UPDATE_SCREENSHOT=1 the test also refreshes the README's screenshot (docs/live-page.png).
Any page that breaks a rule of the hub's Content-Security-Policy fails its test."""

import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule

from jira_bridge.models import TicketRequest
from tests.conftest import EXAMPLES, ROOT, run_publisher, wait_for
from tests.dashboard.test_live import REFUND

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("HUB_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-extensions", "--no-first-run"]  # fmt: skip
SCREENSHOT = ROOT / "docs" / "live-page.png"


@pytest.fixture
def open_browser():
    """Start Chromium when called: Playwright's sync API runs an event loop in this thread, after
    which Django refuses database calls here, so the test sets up its records first."""
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM), f"{CHROMIUM} not found: install Debian's chromium (.ci/run does)"
    started = []

    def start():
        playwright = sync_playwright().start()
        started.append(playwright)
        return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)

    yield start
    for playwright in started:
        playwright.stop()


def watch_for_csp_violations(page) -> list[str]:
    """Chromium reports what the Content-Security-Policy refused on the console; collect it."""
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    return violations


def log_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/live/")


def test_a_published_change_appears_on_the_live_page_without_a_reload(
    broker, start_web, start_worker, open_browser, tmp_path
):
    # Given the example rules, the web process, a worker, and an operator's account
    call_command("import_rules", str(EXAMPLES / "rules.yaml"))
    base = start_web()
    start_worker()
    User.objects.create_user("ops", password="a-long-password", is_staff=True).groups.add(
        Group.objects.get(name="operators")
    )

    # When the operator logs in, the live page opens and says it is live
    page = open_browser().new_page(viewport={"width": 1400, "height": 900})
    violations = watch_for_csp_violations(page)
    log_in(page, base, "ops", "a-long-password")
    page.wait_for_selector("#hub-connection.hub-ok", timeout=30_000)
    page.evaluate("window.hubSamePage = true")  # gone if the page were reloaded

    # and a refund is published into prod
    result = run_publisher("prod", REFUND.encode())
    assert result.returncode == 0, result.stderr.decode()

    # Then the batch and the ticket appear among the latest jobs, and the counters move, unreloaded
    page.wait_for_selector("#hub-jobs tr.hub-new >> text=cdc.process_batch", timeout=60_000)
    page.wait_for_selector("#hub-jobs tr.hub-new >> text=jira_bridge.create_ticket", timeout=60_000)
    wait_for(lambda: prod_tickets(page) == 1, timeout=30, message="prod's ticket counted in the last 24 h")
    assert page.evaluate("window.hubSamePage") is True, "the page was reloaded"
    assert "1 events, 1 tickets" in page.inner_text("#hub-jobs")

    # and a busier minute (the 500-line example: 26 tickets, 5 broken lines) shows too
    result = run_publisher("prod", (EXAMPLES / "maxwell-prod.jsonl").read_bytes())
    assert result.returncode == 0, result.stderr.decode()
    page.wait_for_selector("#hub-errors tr.hub-new >> text=bad_input", timeout=60_000)
    wait_for(lambda: prod_tickets(page) == 27, timeout=60, message="27 tickets for prod in the last 24 h")
    assert page.evaluate("window.hubSamePage") is True, "the page was reloaded"
    target = SCREENSHOT if os.environ.get("HUB_UPDATE_SCREENSHOT") == "1" else tmp_path / "live-page.png"
    page.screenshot(path=str(target), full_page=True)
    assert Path(target).stat().st_size > 10_000, "a screenshot of the page"

    # and the jobs can be narrowed to one queue
    page.select_option("#hub-job-queue", "cdc:prod")
    assert set(
        page.eval_on_selector_all("#hub-jobs tr", "rows => rows.map(r => r.cells[1].textContent)")
    ) == {"cdc:prod"}, "only cdc:prod's jobs"
    assert page.locator("#hub-jobs tr").count() == 2, "the refund's batch and the example's"
    page.select_option("#hub-job-queue", "")

    # and a job links to its ticket request, with the event raw and redacted
    page.click("#hub-jobs tr >> nth=0 >> a")  # the newest job: a Jira job on one of the tickets
    page.click("text=its events, rule, ticket and attempts")
    content = page.inner_text("#content")
    assert "Rendered ticket" in content and "as received" in content and "OUTBOX-" in content, content[:500]
    assert violations == [], "the Content-Security-Policy refused parts of the pages"


def test_the_hubs_pages_break_no_rule_of_their_content_security_policy(broker, start_web, open_browser):
    # Given an admin (periodic tasks are theirs to edit), a ticket request, a crontab schedule and the
    # web process
    User.objects.create_superuser("admin", password="a-long-password")
    ticket = TicketRequest.objects.create(key="k", rule_name="refunds", environment="prod",
                                          fields={"summary": "Refund"})  # fmt: skip
    CrontabSchedule.objects.create(minute="0", hour="4")
    base = start_web()
    page = open_browser().new_page()
    violations = watch_for_csp_violations(page)

    # When the admin logs in and opens the hub's pages, the admin's and the API docs
    log_in(page, base, "admin", "a-long-password")
    page.wait_for_selector("#hub-connection.hub-ok", timeout=30_000)
    for url in ("/errors/", f"/tickets/{ticket.pk}/", "/admin/", "/admin/axes/accessattempt/",
                "/admin/rules/rule/add/"):  # fmt: skip
        page.goto(f"{base}{url}")
        page.wait_for_load_state("load")
    page.goto(f"{base}/api/docs")
    page.wait_for_selector("#swagger-ui .info", timeout=30_000)

    # and picks a schedule on a periodic task's form (django-celery-beat's script, moved to a file)
    page.goto(f"{base}/admin/django_celery_beat/periodictask/add/")
    page.select_option("#id_crontab", index=1)
    page.wait_for_selector(".field-crontab .help >> text=Translation:", timeout=10_000)

    # Then nothing on them was refused by the policy
    assert violations == [], "the Content-Security-Policy refused parts of the pages"


def prod_tickets(page) -> int:
    return page.evaluate(
        "Number([...document.querySelectorAll('#hub-days tr')]"
        ".find(r => r.cells[0].textContent === 'last 24 h' && r.cells[1].textContent === 'prod')"
        "?.cells[4].textContent)"
    )
