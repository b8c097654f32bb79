"""The Content-Security-Policy header on every answer, from ``settings.SECURE_CSP`` (directive ->
sources). Django 6.0 has this built in under the same setting name
(``django.middleware.csp.ContentSecurityPolicyMiddleware``); until the hub moves to it, this is the
whole of it: one fixed policy needs no nonces, so it is not worth a dependency. The hub's pages
therefore carry no inline script, style or event handler: they live in static files."""

from django.conf import settings
from django.utils.deprecation import MiddlewareMixin

HEADER = "Content-Security-Policy"


def policy(directives: dict[str, list[str]]) -> str:
    return "; ".join(" ".join([name, *sources]) for name, sources in directives.items())


class ContentSecurityPolicyMiddleware(MiddlewareMixin):  # the mixin: sync and async alike
    def process_response(self, request, response):
        if settings.SECURE_CSP and HEADER not in response:  # a view may set its own
            response[HEADER] = policy(settings.SECURE_CSP)
        return response
