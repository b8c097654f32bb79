"""HTTP clients for tests against the real web process: a client at another address of this
machine, and a login through the admin's form."""

import re

import requests
from requests.adapters import HTTPAdapter


class FromAddress(HTTPAdapter):
    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


def client_at(address: str) -> requests.Session:
    """A session whose connections leave from ``address``: on Linux all of 127.0.0.0/8 is this
    machine, so the web process (listening on 127.0.0.1) sees a second client, as it would a second
    machine, with no proxy header involved."""
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session


def log_in(session: requests.Session, base: str, username: str, password: str) -> requests.Response:
    """Post the admin's login form as a browser does (its CSRF token first); a login that works
    ends on the live page."""
    form = session.get(f"{base}/admin/login/", timeout=30).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)[1]
    data = {"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/live/"}
    return session.post(f"{base}/admin/login/?next=/live/", data=data, timeout=30)


def logged_in(answer: requests.Response) -> bool:
    return answer.status_code == 200 and answer.url.endswith("/live/")
