"""The sandbox rule templates run in: Django's template language cut down to an allowlist of tags
and filters, and bounds on what one render may cost (output size, time, filter widths).

A rule is written by whoever may import a rule file or edit a rule in the admin, and its templates
run in the workers for every event it matches. A template that can reach files, dump the context
or loop over a list three times nested would stall a worker and the events queued behind it, so
what a template may use is listed here, and what it may spend is counted as it renders.
"""

import functools
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pprint import PrettyPrinter
from typing import Any, NoReturn

from django.conf import settings
from django.template import (
    Context,
    Engine,
    Library,
    Node,
    NodeList,
    Template,
    TemplateSyntaxError,
    defaultfilters,
    defaulttags,
)
from django.template.base import FilterExpression
from django.template.smartif import TokenBase

# Tags a ticket needs: conditions (if/elif/else), loops (for/empty), naming and choosing values,
# comments, and writing template syntax literally. Left out: include, extends and block (there are
# no template files to reach), load (it would bring other libraries back), lorem (100,000,000 words
# in one call), debug (dumps the context and every loaded module), url, csrf_token and querystring
# (web pages, not tickets), regroup (harmless, but no rule needs it). ssi and static are not
# Django built-ins at all.
TAGS = (
    "if",
    "for",
    "with",
    "firstof",
    "comment",
    "spaceless",
    "verbatim",
    "filter",
    "now",
    "cycle",
    "resetcycle",
    "ifchanged",
    "templatetag",
    "widthratio",
    "autoescape",
)
# Filters that format values as text. Left out: make_list and random (a list of characters; a
# different ticket each time for one event), urlize, urlizetrunc and the *_html truncations
# (regular expressions over HTML, with a history of denial-of-service fixes), json_script, escape,
# escapejs, escapeseq, force_escape, safeseq, addslashes, iriencode, linebreaks, linebreaksbr,
# striptags and unordered_list (HTML and JavaScript, which tickets are not), linenumbers, get_digit
# and phone2numeric (no use in a ticket).
FILTERS = (
    "add",
    "capfirst",
    "center",
    "cut",
    "date",
    "default",
    "default_if_none",
    "dictsort",
    "dictsortreversed",
    "divisibleby",
    "filesizeformat",
    "first",
    "floatformat",
    "join",
    "last",
    "length",
    "ljust",
    "lower",
    "pluralize",
    "pprint",
    "rjust",
    "slice",
    "slugify",
    "stringformat",
    "time",
    "timesince",
    "timeuntil",
    "title",
    "truncatechars",
    "truncatewords",
    "upper",
    "urlencode",
    "wordcount",
    "wordwrap",
    "yesno",
    "safe",
)
TEMPLATE_MAX_CHARS = 20_000  # a template's source, checked when it is compiled
WIDTH_MAX = 1_000  # ljust, rjust, center widths; stringformat width and precision; floatformat places
NOT_ALLOWED = ("Invalid block tag", "Invalid filter")
# One stringformat conversion: flags, width, precision, type. Not a mapping key ("(a)s"), with which
# one argument converts a dict's largest value any number of times.
CONVERSION = re.compile(r"[#0 +-]*(?P<width>\d*)(?:\.(?P<precision>\d*))?[hlL]?[diouxXeEfFgGcrsa%]")


class OverBound(Exception):
    """A bound of the sandbox passed. rules.render reports it as RenderBoundExceeded."""


@dataclass
class Budget:
    """What one render may spend. ``failure`` keeps the first bound passed, so that one passed
    inside code that swallows exceptions ({% if %} conditions turn them into False) still ends the
    render at the next node."""

    max_chars: int
    seconds: float
    deadline: float
    produced: int = 0
    failure: str | None = None
    armed: bool = False  # whether SIGALRM is this render's deadline

    def fail(self, message: str) -> NoReturn:
        self.failure = self.failure or message
        raise OverBound(self.failure)

    def out_of_time(self) -> NoReturn:
        self.fail(f"the render took longer than HUB_RENDER_SECONDS ({self.seconds} seconds)")

    def check(self) -> None:
        if self.failure:
            raise OverBound(self.failure)
        if time.monotonic() > self.deadline:
            self.out_of_time()

    def spend(self, chars: int) -> None:
        self.produced += chars
        if self.produced > self.max_chars:
            self.fail(f"the output passed HUB_RENDER_MAX_CHARS ({self.max_chars} characters)")


# The budget of the render under way in this thread; None outside render_bounded, where a
# template renders unbounded (rules.render.render_text is the way in).
ACTIVE: ContextVar[Budget | None] = ContextVar("rule_template_budget", default=None)


def refuse(message: str) -> NoReturn:
    """Stop a filter at a bound; the render under way keeps it (see Budget)."""
    budget = ACTIVE.get()
    if budget is not None:
        budget.fail(message)
    raise OverBound(message)


def output_bound() -> int:
    budget = ACTIVE.get()
    return settings.HUB_RENDER_MAX_CHARS if budget is None else budget.max_chars


def as_int(arg: Any) -> int | None:
    """``arg`` as Django's filters read it, or None where they fail on it themselves."""
    try:
        return int(arg)
    except (TypeError, ValueError, OverflowError):
        return None


def check_width(name: str, arg: Any) -> None:
    """ljust, rjust and center pad in one allocation: a width of 2,000,000,000 is 2 GB at once."""
    width = as_int(arg)
    if width is not None and width > WIDTH_MAX:
        refuse(f"{name}: a width of {width} is over the bound of {WIDTH_MAX}")


def check_places(name: str, arg: Any) -> None:
    """floatformat's decimal places (after its flags: g for grouping, u for no localisation)."""
    places = as_int(str(arg).rstrip("gu") or -1)
    if places is not None and abs(places) > WIDTH_MAX:
        refuse(f"{name}: {abs(places)} decimal places is over the bound of {WIDTH_MAX}")


def check_conversion(name: str, arg: Any) -> None:
    found = CONVERSION.fullmatch(str(arg))
    if found is None:
        refuse(f"{name}: {str(arg)[:40]!r} is not one conversion such as 's', '05d' or '.2f'")
    for part in ("width", "precision"):
        if int(found[part] or 0) > WIDTH_MAX:
            refuse(f"{name}: a {part} of {int(found[part])} is over the bound of {WIDTH_MAX}")


ARGUMENT_CHECKS = {
    "ljust": check_width,
    "rjust": check_width,
    "center": check_width,
    "floatformat": check_places,
    "stringformat": check_conversion,
}


def argument_checked(name: str) -> Callable:
    """Django's filter ``name``, its argument checked first (when the template is compiled too,
    for a literal argument: see check_literals)."""
    original, check = defaultfilters.register.filters[name], ARGUMENT_CHECKS[name]

    @functools.wraps(original)  # its flags (is_safe, ...) and its signature, which Django reads
    def filter_(value, *arg):
        if arg:
            check(name, arg[0])
        return original(value, *arg)

    return filter_


def printed_size(value: Any, limit: int) -> int:
    """About how many characters ``value`` prints as: the length of text, and for lists and dicts
    their items' with quotes and separators. Counted without printing, and only until past
    ``limit``, so that measuring costs no more than the bound."""
    if isinstance(value, str):
        return len(value)
    total, pending = 0, [value]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item) + 4
        elif isinstance(item, dict):
            total += 2
            pending += item.keys()
            pending += item.values()
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2
            pending += item
        else:
            total += len(str(item)) + 2
    return total


@functools.wraps(defaultfilters.join)
def join(value, arg, autoescape=True):
    """Django's join, refused before joining text that would pass the output bound (200 items and
    a 10,000-character separator are 2 MB)."""
    if isinstance(value, dict | set | frozenset):
        value = list(value)  # Django joins any iterable (a dict: its keys); measure it first too
    if isinstance(value, list | tuple | str):
        limit = output_bound()
        total = len(str(arg)) * max(len(value) - 1, 0)
        for item in [value] if isinstance(value, str) else value:
            total += printed_size(item, limit)
            if total > limit:
                refuse(f"join: the joined text would pass HUB_RENDER_MAX_CHARS ({limit} characters)")
    return defaultfilters.join(value, arg, autoescape=autoescape)


class BoundedText:
    """A stream for PrettyPrinter holding at most ``limit`` characters (and the newline pprint
    ends with, which pformat has not)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size, self.parts = limit, 0, []

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > self.limit + 1:
            refuse(f"pprint: the value prints past HUB_RENDER_MAX_CHARS ({self.limit} characters)")
        self.parts.append(text)


@functools.wraps(defaultfilters.pprint)
def pprint(value):
    """Django's pprint, refused for a value that would print past the output bound, and printed
    into BoundedText: indentation grows with depth, so a deep value prints far longer than it is."""
    limit = output_bound()
    if printed_size(value, limit) > limit:
        refuse(f"pprint: the value prints past HUB_RENDER_MAX_CHARS ({limit} characters)")
    text = BoundedText(limit)
    try:
        PrettyPrinter(stream=text).pprint(value)
    except OverBound:
        raise
    except Exception as exc:  # noqa: BLE001 - as Django's pprint, which says what it cannot print
        return f"Error in formatting: {exc.__class__.__name__}: {exc}"
    return "".join(text.parts)[:-1]


def size_checked(name: str, func: Callable) -> Callable:
    """``func`` as a filter whose result may not pass the output bound. A value made in a
    {% with %} reaches no node's output to be counted there, and ``add`` doubles it each time:
    thirty nested {% with x=x|add:x %} would be gigabytes."""

    @functools.wraps(func)
    def filter_(*args, **kwargs):
        result = func(*args, **kwargs)
        if isinstance(result, str | list | tuple | dict):
            limit = output_bound()
            if printed_size(result, limit) > limit:
                refuse(f"{name}: its result is over HUB_RENDER_MAX_CHARS ({limit} characters)")
        return result

    return filter_


BOUNDED = {name: argument_checked(name) for name in ARGUMENT_CHECKS} | {"join": join, "pprint": pprint}
LIBRARY = Library()
LIBRARY.tags.update({name: defaulttags.register.tags[name] for name in TAGS})
LIBRARY.filters.update(
    {name: size_checked(name, BOUNDED.get(name) or defaultfilters.register.filters[name]) for name in FILTERS}
)


class BoundedNode(Node):
    """A node of a compiled template, rendered within the active budget: the time is checked
    before it renders and the text it adds counted after, so a loop stops at the first iteration
    past a bound instead of after building gigabytes."""

    child_nodelists = ()

    def __init__(self, node: Node) -> None:
        self.node = node
        self.token = getattr(node, "token", None)
        self.origin = getattr(node, "origin", None)

    def render(self, context: Context) -> str:
        budget = ACTIVE.get()
        if budget is None:
            return self.node.render_annotated(context)
        budget.check()
        before = budget.produced
        text = self.node.render_annotated(context)
        # Count only what this node added: a loop's text is its children's, counted already.
        budget.spend(max(len(text) - (budget.produced - before), 0))
        return text


def bound_nodes(nodelist: NodeList) -> None:
    """Wrap every node of a compiled template, at any depth, in BoundedNode; refuse a literal
    filter argument over a bound (raises OverBound)."""
    pending, seen = [nodelist], set()
    while pending:
        nodes = pending.pop()
        for position, node in enumerate(nodes):
            nodes[position] = BoundedNode(node)
            if id(node) in seen:  # a named {% cycle %} is the same node where it is used again
                continue
            seen.add(id(node))
            for part in parts_of(node):
                if isinstance(part, NodeList):
                    pending.append(part)
                else:
                    check_literals(part)


def parts_of(node: Node) -> Iterator[NodeList | FilterExpression]:
    """The node lists and filter expressions a node holds: as attributes, in lists and dicts
    ({% with %}), in (condition, nodelist) pairs and in condition trees ({% if %})."""
    pending = list(vars(node).values())
    while pending:
        value = pending.pop()
        if isinstance(value, NodeList | FilterExpression):
            yield value
        elif isinstance(value, list | tuple):
            pending += value
        elif isinstance(value, dict):
            pending += value.values()
        elif isinstance(value, TokenBase):
            pending += vars(value).values()


def check_literals(expression: FilterExpression) -> None:
    """Check a filter's literal argument when the template is compiled, not at its first event."""
    for func, args in expression.filters:
        name = getattr(func, "_filter_name", None)
        for lookup, arg in args if name in ARGUMENT_CHECKS else ():
            if not lookup:  # a quoted literal
                ARGUMENT_CHECKS[name](name, arg)
            elif arg.lookups is None:  # a number, which Django keeps as a literal Variable
                ARGUMENT_CHECKS[name](name, arg.literal)


@contextmanager
def alarm(budget: Budget) -> Iterator[None]:
    """SIGALRM at the budget's deadline, for a render that passes no node for a while (one filter
    over a long value). Only the main thread gets signals (Celery's solo pool runs tasks there, and
    enforces no time limit of its own); elsewhere the check at each node is the time bound.
    Whatever SIGALRM handler and timer were set before (pytest-timeout's, say) are put back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame) -> None:
        if budget.armed:
            budget.out_of_time()

    delay, interval = signal.getitimer(signal.ITIMER_REAL)
    previous = signal.signal(signal.SIGALRM, expire)
    started = time.monotonic()
    try:
        budget.armed = True
        signal.setitimer(signal.ITIMER_REAL, budget.seconds)
        yield
    finally:
        budget.armed = False  # first: a signal handled from here on is this render's, and late
        signal.setitimer(signal.ITIMER_REAL, 0)
        # None: a handler not set from Python, which cannot be put back; the default is the best left.
        signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)
        if delay:  # the earlier timer, with what it had left (at once if it fell due meanwhile)
            signal.setitimer(signal.ITIMER_REAL, max(delay - (time.monotonic() - started), 1e-6), interval)


def render_bounded(template: Template, context: dict[str, Any]) -> str:
    """Render within HUB_RENDER_MAX_CHARS characters and HUB_RENDER_SECONDS; raises OverBound
    naming the bound passed, or whatever else the template raised."""
    seconds = settings.HUB_RENDER_SECONDS
    budget = Budget(settings.HUB_RENDER_MAX_CHARS, seconds, time.monotonic() + seconds)
    token = ACTIVE.set(budget)
    try:
        with alarm(budget):
            text = template.render(Context(context, autoescape=False))
    except OverBound:
        raise
    except Exception as exc:
        if budget.failure is None:
            raise
        raise OverBound(budget.failure) from exc  # a bound swallowed, then an error it led to
    finally:
        ACTIVE.reset(token)
    if budget.failure:  # passed inside code that swallowed it, after the last node
        raise OverBound(budget.failure)
    return text


class SandboxEngine(Engine):
    """An engine whose one built-in library is LIBRARY, with no libraries to {% load %}."""

    default_builtins = []  # Django's own three would bring back every tag and filter

    def __init__(self) -> None:
        # Tickets are Jira text, not HTML: no HTML escaping of values. No loaders: no template files.
        super().__init__(autoescape=False, libraries={}, loaders=[])
        self.template_builtins = [LIBRARY]

    def from_string(self, template_code: str) -> Template:
        """Compile a rule's template; raises TemplateSyntaxError naming what the sandbox refuses."""
        if len(template_code) > TEMPLATE_MAX_CHARS:
            raise TemplateSyntaxError(
                f"the template is {len(template_code)} characters, over the bound of {TEMPLATE_MAX_CHARS}"
            )
        try:
            template = super().from_string(template_code)
        except RecursionError:  # Django's parser recurses once per nested tag
            raise TemplateSyntaxError("the template nests too deeply") from None
        except TemplateSyntaxError as exc:
            if not str(exc).startswith(NOT_ALLOWED):
                raise
            # Django's hint ("Did you forget to register or load this tag?") does not apply here.
            message = str(exc).replace(" Did you forget to register or load this tag?", "").rstrip(".")
            raise TemplateSyntaxError(
                f"{message} (rule templates may use only the tags and filters in README, "
                "'What templates may use')"
            ) from None
        try:
            bound_nodes(template.nodelist)
        except OverBound as exc:
            raise TemplateSyntaxError(str(exc)) from None
        return template


ENGINE = SandboxEngine()
