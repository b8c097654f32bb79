"""Failed bearer tokens, counted per client address in Redis, for the API and /metrics alike: once
an address has sent HUB_TOKEN_FAILURE_LIMIT tokens that were refused within
HUB_TOKEN_FAILURE_WINDOW seconds of its first, every token it sends, right or wrong, is answered
429 with Retry-After until that window ends, so the answers cannot tell it which guess was right.

A token is counted before it is looked at, and the count decides: over the limit, the token is not
looked at; a token that turns out good is taken off the count again. So however many guesses
arrive at once, no more than the limit are ever looked at in a window (checking the count first
and raising it after a failure let a concurrent burst through whole). The price: a client with
more good tokens in flight at one moment than the limit has left is throttled too. An IPv6 client
is counted by its /64, which one machine usually holds whole; an IPv4 client by its address.

API tokens are 256 random bits, so for them the throttle is about load and noise more than odds;
HUB_METRICS_TOKEN is whatever was chosen. Without Redis it lets tokens through (logged) rather
than lock every client out."""

import ipaddress
import logging

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core.redis import hub_redis

log = logging.getLogger(__name__)

# A good token's count taken back; a count back at nothing goes, so the next window starts at the
# next failure. In Lua: no other client's count can come between the two steps.
UNCOUNT = """
if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
"""


class Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many refused tokens from this address; retry after {retry_after} s")
        self.retry_after = retry_after


def client_key(address: str) -> str:
    """Who is counted: an IPv4 address whole, an IPv6 address by its /64 (one host can pick any
    address in it), an IPv4 address mapped into IPv6 as the IPv4 one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an address (a Unix socket's name): counted as it is
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip), 64), strict=False))
    return str(ip)


def failures_key(request: HttpRequest) -> str:
    # REMOTE_ADDR is uvicorn's client address: X-Forwarded-For counts only from FORWARDED_ALLOW_IPS.
    return f"hub:token-failures:{client_key(request.META.get('REMOTE_ADDR', ''))}"


def count_token(request: HttpRequest) -> None:
    """Count this client's token as refused, before it is looked at; raise Throttled if that puts
    the client over the limit. The window starts at the count's first."""
    key = failures_key(request)
    try:
        with hub_redis().pipeline() as pipe:  # MULTI: the count never lives without its expiry
            count, _, ttl = (
                pipe.incr(key).expire(key, settings.HUB_TOKEN_FAILURE_WINDOW, nx=True).ttl(key).execute()
            )
    except redis.RedisError:
        log.warning("token throttle: Redis unreachable, not checking %s", key, exc_info=True)
        return
    if count > settings.HUB_TOKEN_FAILURE_LIMIT:
        raise Throttled(max(ttl, 1))


def uncount_token(request: HttpRequest) -> None:
    """The token counted by count_token was good: take it off the client's count."""
    key = failures_key(request)
    try:
        hub_redis().eval(UNCOUNT, 1, key)
    except redis.RedisError:
        log.warning("token throttle: Redis unreachable, %s not taken back", key, exc_info=True)


def refusal(exc: Throttled) -> HttpResponse:
    return HttpResponse(
        f"{exc}\n", status=429, content_type="text/plain", headers={"Retry-After": str(exc.retry_after)}
    )
