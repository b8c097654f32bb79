"""Failed logins are throttled per client address and per account (django-axes), over real HTTP
against the Procfile's web process (uvicorn) and the admin's login form."""

import re
import time

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command

from tests.clients import client_at, log_in, logged_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LIMIT = 10  # HUB_LOGIN_FAILURE_LIMIT's default


@pytest.fixture
def accounts() -> None:
    for name in ("ops", "lee"):
        User.objects.create_user(name, password=f"{name}-right-password", is_staff=True)


def operator_at(address: str, base: str):
    """An operator, logged in through the admin's form from ``address``."""
    User.objects.create_user("olga", password="olga-right-password", is_staff=True).groups.add(
        Group.objects.get(name="operators")
    )
    session = client_at(address)
    assert logged_in(log_in(session, base, "olga", "olga-right-password")), "the operator logs in"
    return session


def hidden_inputs(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)


def right_password(session, base: str, username: str):
    return log_in(session, base, username, f"{username}-right-password")


def wrong_passwords(session, base: str, username: str, count: int) -> list[int]:
    return [log_in(session, base, username, f"wrong-{i}").status_code for i in range(count)]


def test_ten_wrong_passwords_lock_the_client_out_even_with_the_right_one(start_web, accounts):
    # Given the web process and one client
    base = start_web()
    client = client_at("127.0.0.1")

    # When it gets the password wrong ten times in a row
    answers = wrong_passwords(client, base, "ops", LIMIT)

    # Then the tenth is answered as a lockout, and the right password is refused after it
    assert answers == [200] * (LIMIT - 1) + [429], f"the form again, then locked out: {answers}"
    right = right_password(client, base, "ops")
    assert right.status_code == 429 and "too many login attempts" in right.text, right.status_code
    assert not logged_in(right)

    # and another account from the same client is refused too: the client is locked out
    assert right_password(client, base, "lee").status_code == 429


def test_failures_for_one_account_from_several_clients_lock_the_account_not_the_clients(start_web, accounts):
    # Given the web process
    base = start_web()
    first, second, third = client_at("127.0.0.2"), client_at("127.0.0.3"), client_at("127.0.0.4")

    # When two clients share ten wrong passwords for one account
    assert wrong_passwords(first, base, "ops", LIMIT // 2) == [200] * (LIMIT // 2)
    assert wrong_passwords(second, base, "ops", LIMIT // 2) == [200] * (LIMIT // 2 - 1) + [429]

    # Then that account is locked out from a third client, with its right password
    assert right_password(third, base, "ops").status_code == 429, "the account is locked wherever it is tried"

    # but the clients are not: each has failed only half the limit
    assert logged_in(right_password(first, base, "lee")), "another account from a client below the limit"


def test_the_right_password_works_once_the_lockout_has_passed(start_web, accounts):
    # Given a lockout of three seconds
    base = start_web(HUB_LOGIN_LOCKOUT_MINUTES="0.05")
    client = client_at("127.0.0.1")
    wrong_passwords(client, base, "ops", LIMIT)
    assert right_password(client, base, "ops").status_code == 429, "locked out"

    # When three seconds pass without an attempt
    time.sleep(3.5)

    # Then the right password works
    assert logged_in(right_password(client, base, "ops")), "the lockout should have passed"


def test_attempts_during_a_lockout_do_not_extend_it(start_web, accounts):
    # Given a lockout of six seconds, begun by the tenth wrong password (twice the time the client
    # tries below: a loaded machine may answer its last try a second or more after it was sent)
    base = start_web(HUB_LOGIN_LOCKOUT_MINUTES="0.1")
    client = client_at("127.0.0.1")
    wrong_passwords(client, base, "ops", LIMIT)
    locked_at = time.monotonic()

    # When the client keeps trying for two and a half seconds
    during = []
    while time.monotonic() < locked_at + 2.5:
        during.append(log_in(client, base, "ops", "wrong-again").status_code)
        time.sleep(0.1)
    assert set(during) == {429}, f"every attempt during the lockout is refused: {during}"

    # Then the lockout still ends six seconds after the tenth wrong password
    time.sleep(max(0.0, locked_at + 6.5 - time.monotonic()))
    assert logged_in(right_password(client, base, "ops")), "an attempt while locked out extended the lockout"


def test_attempts_during_a_lockout_are_not_added_to_its_record(start_web, accounts):
    from axes.models import AccessAttempt

    # Given a client locked out, and its access attempt as the lockout left it
    base = start_web()
    client = client_at("127.0.0.1")
    wrong_passwords(client, base, "ops", LIMIT)
    before = AccessAttempt.objects.get(username="ops")

    # When it sends twenty more wrong passwords
    assert set(wrong_passwords(client, base, "ops", 20)) == {429}, "locked out"

    # Then the record neither grows nor counts them
    after = AccessAttempt.objects.get(username="ops")
    assert len(after.post_data) == len(before.post_data), "each attempt appended its form to post_data"
    assert after.failures_since_start == LIMIT, after.failures_since_start


def test_axes_reset_lifts_a_lockout(start_web, accounts):
    # Given a client locked out
    base = start_web()
    client = client_at("127.0.0.1")
    wrong_passwords(client, base, "ops", LIMIT)
    assert right_password(client, base, "ops").status_code == 429, "locked out"

    # When an admin runs `manage.py axes_reset`
    call_command("axes_reset")

    # Then the right password works at once
    assert logged_in(right_password(client, base, "ops")), "axes_reset should lift the lockout"


def test_an_operator_lifts_a_lockout_by_deleting_every_access_attempt_for_it_in_the_admin(
    start_web, accounts
):
    from axes.models import AccessAttempt

    # Given an account locked out by failures from two clients: one access attempt each
    base = start_web()
    assert wrong_passwords(client_at("127.0.0.2"), base, "ops", LIMIT // 2) == [200] * (LIMIT // 2)
    wrong_passwords(client_at("127.0.0.3"), base, "ops", LIMIT // 2)
    assert right_password(client_at("127.0.0.4"), base, "ops").status_code == 429, "locked out"
    assert AccessAttempt.objects.filter(username="ops").count() == 2

    # When an operator finds that account's attempts in the admin and deletes them all
    operator = operator_at("127.0.0.5", base)
    found = operator.get(f"{base}/admin/axes/accessattempt/?q=ops", timeout=30).text
    chosen = re.findall(r'name="_selected_action" value="(\d+)"', found)
    assert len(chosen) == 2, f"both of the account's attempts are listed: {chosen}"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', found)[1]
    form = {"action": "delete_selected", "_selected_action": chosen, "csrfmiddlewaretoken": token}
    confirm = operator.post(f"{base}/admin/axes/accessattempt/?q=ops", data=form, timeout=30)
    assert confirm.status_code == 200 and "Yes, I’m sure" in confirm.text, confirm.status_code
    deleted = operator.post(confirm.url, data=hidden_inputs(confirm.text), timeout=30)  # "Yes, I'm sure"
    assert deleted.status_code == 200, deleted.status_code
    assert not AccessAttempt.objects.filter(username="ops").exists(), "the admin deleted them"

    # Then the account logs in at once
    assert logged_in(right_password(client_at("127.0.0.4"), base, "ops")), "the lockout should be lifted"


@pytest.mark.parametrize("model", ["accessattempt", "accesslog", "accessfailurelog"])
def test_only_operators_see_failed_logins_in_the_admin(client, model):
    """Axes' records show a password typed into the username field in clear, and every login's
    address and user agent."""
    from tests.hub.test_access import person

    # When a viewer opens one of axes' lists, then it is refused
    assert person(client, "viewers").get(f"/admin/axes/{model}/").status_code == 403, "viewers see logins"

    # and an operator sees it
    operator = person(client, "operators").get(f"/admin/axes/{model}/")
    assert operator.status_code == 200, operator.status_code


def test_operators_see_lockouts_and_may_lift_them(client):
    from axes.models import AccessAttempt

    from tests.hub.test_access import person

    # Given a locked-out address
    AccessAttempt.objects.create(username="ops", ip_address="203.0.113.9", failures_since_start=LIMIT)

    # Then an operator sees it in the admin (Axes › Access attempts) and may lift it
    page = person(client, "operators").get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and "203.0.113.9" in page.content.decode()
    assert User.objects.get(username="operators").has_perm("axes.delete_accessattempt")

    # and a viewer may not
    person(client, "viewers")
    assert not User.objects.get(username="viewers").has_perm("axes.delete_accessattempt")
