"""Rules that cannot hurt: hostile rules are refused at import with their reason, or accepted and
bounded when they run."""

import datetime
import json
import signal
import threading

import pytest
import yaml
from django.template import Context, Engine

from notifications.models import ErrorLog
from pipeline.batches import process_cdc_batch
from rules.importing import import_rules
from rules.matching import RuleIndex, compile_rule
from rules.models import Rule
from rules.render import RenderBoundExceeded, TemplateFailure, compile_template, render_text
from rules.rulefile import RuleError, load_rule_file, validate_rule
from tests.conftest import EXAMPLES


def rule_file(summary: str = "{{ data.name }}", where: dict | None = None) -> str:
    """A rule file of one rule, ``hostile``, with this summary and ``where``."""
    rule = {
        "name": "hostile",
        "match": {"database": "shop", "where": where or {"data.name": {"exists": True}}},
        "ticket": {"project": "OPS", "summary": summary},
    }
    return yaml.safe_dump({"rules": [rule]})


def problems_of(text: str) -> list[str]:
    with pytest.raises(RuleError) as caught:
        load_rule_file(text)
    return caught.value.problems


def where_rule(where: dict) -> Rule:
    """An unsaved rule matching shop rows on ``where`` (compile_rule needs no database)."""
    instance = Rule(pk=1)
    spec = {
        "name": "r",
        "match": {"database": "shop", "where": where},
        "ticket": {"project": "O", "summary": "x"},
    }
    instance.apply_spec(validate_rule(spec))
    return instance


def row(**data) -> dict:
    return {"database": "shop", "table": "t", "type": "insert", "data": data}


# 28 a's held a worker for 71 s under Python's re; 5,000 would never return (pytest-timeout fails it).
@pytest.mark.parametrize("text", ["a" * 28 + "!", "a" * 5000 + "!"])
def test_a_catastrophic_pattern_is_accepted_and_does_not_match_the_evil_input(text):
    # Given a rule whose pattern makes a backtracking engine run for minutes on these names
    (spec,) = load_rule_file(rule_file(where={"data.name": {"matches": "(a+)+$"}}))
    assert spec["match"]["where"]["data.name"] == {"matches": "(a+)+$"}
    index = RuleIndex([compile_rule(where_rule(spec["match"]["where"]))])

    # When an event with the evil name is matched, Then it does not match (and returns at all)
    assert index.match("prod", row(name=text)) == [], "a name ending in ! is not all a's"


def test_a_catastrophic_pattern_still_matches_what_it_should():
    index = RuleIndex([compile_rule(where_rule({"data.name": {"matches": "(a+)+$"}}))])
    assert len(index.match("prod", row(name="b" + "a" * 28))) == 1, "a run of a's at the end matches"


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", r"invalid escape sequence: \1"),
        ("(?=a)b", "invalid perl operator: (?="),
        ("(unclosed", "missing ): (unclosed"),
    ],
)
def test_a_pattern_re2_cannot_compile_is_refused_with_its_reason_and_a_hint(pattern, reason):
    (problem,) = problems_of(rule_file(where={"data.name": {"matches": pattern}}))
    prefix = "rule 'hostile': match.where.data.name.matches: bad regular expression: "
    assert problem.startswith(prefix), problem
    assert reason in problem, problem
    assert "backreferences and look-around are not supported" in problem, problem


# --- What templates may use ---------------------------------------------------------------------

COMPILE_ERROR = "rule 'hostile': ticket.summary: template does not compile: "


@pytest.mark.parametrize(
    ("template", "name"),
    [
        ("{% lorem 100000000 w %}", "'lorem'"),  # 742 MB in one call
        ("{% include 'rules.yaml' %}", "'include'"),
        ("{% extends 'base.html' %}", "'extends'"),
        ("{% block b %}{% endblock %}", "'block'"),
        ("{% load static %}", "'load'"),
        ("{% debug %}", "'debug'"),
        ("{% url 'admin:index' %}", "'url'"),
        ("{% csrf_token %}", "'csrf_token'"),
        ("{% static 'x.css' %}", "'static'"),
        ("{% ssi '/etc/passwd' %}", "'ssi'"),
        ("{% for x in data.tags %}{% lorem %}{% endfor %}", "'lorem'"),
        ("{{ data.name|make_list }}", "'make_list'"),
        ("{{ data.tags|random }}", "'random'"),
        ("{{ data.name|urlize }}", "'urlize'"),
        ("{{ data.name|urlizetrunc:5 }}", "'urlizetrunc'"),
        ("{{ data|json_script:'x' }}", "'json_script'"),
        ("{{ data.name|truncatewords_html:2 }}", "'truncatewords_html'"),
    ],
)
def test_a_tag_or_filter_outside_the_allowlist_is_refused_at_import_by_name(template, name):
    (problem,) = problems_of(rule_file(summary=template))
    assert problem.startswith(COMPILE_ERROR + "Invalid "), problem
    assert name in problem, f"the problem names {name}: {problem}"
    assert "What templates may use" in problem, f"the problem points to the README: {problem}"


def test_a_template_longer_than_the_bound_is_refused_at_import():
    (problem,) = problems_of(rule_file(summary="x" * 20_001))
    assert problem == COMPILE_ERROR + "the template is 20001 characters, over the bound of 20000"


def test_a_template_nested_too_deeply_to_parse_is_refused_not_a_crash():
    # Given 900 nested ifs (under the length bound), which Django's parser recurses into
    summary = "{% if a %}" * 900 + "{% endif %}" * 900
    assert len(summary) <= 20_000
    assert problems_of(rule_file(summary=summary)) == [COMPILE_ERROR + "the template nests too deeply"]


CONTEXT = {
    "env": "prod",
    "database": "shop",
    "table": "orders",
    "type": "update",
    "ts": 1763700000,
    "xid": 11,
    "event_id": "e-1",
    "rule": "tour",
    "key": "drops/a b.csv",
    "bucket": "local-drop",
    "size": 123456,
    "etag": "abc",
    "data": {
        "id": 42,
        "status": "refunded",
        "total": "1234.5",
        "name": "banana",
        "text": "the quick brown fox jumps over",
        "html": "<b>&</b>",
        "path": "a b/c?d=é",
        "tags": ["red", "green", "green", "blue"],
        "items": [{"n": 2, "v": "two"}, {"n": 1, "v": "one"}],
        "flag": False,
        "none": None,
        "card_number": "[redacted]",
        "email": "a@example.com",
        "sku": 7,
        "qty": 3,
        "when": datetime.datetime(2025, 11, 21, 8, 30),
        "later": datetime.datetime(2025, 11, 23, 9, 0),
    },
    "old": {"status": "paid"},
}
# Every allowed tag and filter at least once.
TOUR = """{% with total=data.total|floatformat:2 %}{{ total }}{% endwith %}
{% for tag in data.tags %}{{ forloop.counter }}:{{ tag|upper|ljust:6 }}
{% cycle 'a' 'b' as ab silent %}{{ ab }}
{% ifchanged %}{{ tag|first }}{% endifchanged %}{% empty %}none{% endfor %}{% resetcycle %}
{% if data.status == "refunded" and old.status %}from {{ old.status|capfirst }}
{% elif data.id %}x{% else %}y{% endif %}
{% firstof data.missing data.id %} {% widthratio data.id 10 100 %} {% templatetag openblock %}
{% verbatim %}{{ raw }}{% endverbatim %}{% comment %}hidden{% endcomment %}{# hidden #}
{% spaceless %}<p> a </p> <p>b</p>{% endspaceless %}|{% filter lower|center:20 %}Filtered Text{% endfilter %}|
{% autoescape on %}{{ data.html }}{% endautoescape %} {{ data.html }} {% now "Y" as year %}{{ year|length }}
{{ data.tags|join:", " }} {{ data.tags|length }} {{ data.tags|last }} {{ data.tags|slice:":2"|join:"+" }}
{{ data.note|default:"no note" }} {{ data.none|default_if_none:"none" }}
{{ data.id|add:5 }} {{ data.id|divisibleby:7 }}
{{ size|filesizeformat }} {{ data.items|dictsort:"n"|first }} {{ data.items|dictsortreversed:"n"|first }}
{{ data.id|stringformat:"08.3f" }} {{ data.name|rjust:10 }}| {{ data.name|cut:"a" }} {{ key|slugify }}
{{ data.text|title }} {{ data.text|truncatechars:10 }} {{ data.text|truncatewords:2 }}
{{ data.text|wordcount }}
{{ data.text|wordwrap:8 }} {{ data.id|pluralize }} {{ data.flag|yesno:"on,off" }} {{ data.path|urlencode }}
{{ data.html|safe }} {{ data.when|date:"Y-m-d" }} {{ data.when|time:"H:i" }}
{{ data.when|timesince:data.later }} {{ data.later|timeuntil:data.when }}
{{ data|pprint }}"""


def example_templates() -> list[str]:
    specs = load_rule_file((EXAMPLES / "rules.yaml").read_text())
    return [
        spec["ticket"][key] for spec in specs for key in ("summary", "description") if key in spec["ticket"]
    ]


@pytest.mark.parametrize("template", [TOUR, *example_templates()])
def test_an_allowed_template_renders_exactly_as_django_renders_it(template):
    # Given the engine rule templates used before the sandbox
    before = Engine(autoescape=False).from_string(template).render(Context(CONTEXT, autoescape=False))

    # When the same template renders in the sandbox
    after = render_text(compile_template(template), CONTEXT)

    # Then the ticket text is the same
    assert after == before


# --- What one render may spend ------------------------------------------------------------------

LOOPS = "{% for a in data.tags %}{% for b in data.tags %}{% for c in data.tags %}BODY" + "{% endfor %}" * 3
NESTED = LOOPS.replace("BODY", "{{ c }}")
QUIET = LOOPS.replace("BODY", "")


def with_data(**data) -> dict:
    return {**CONTEXT, "data": data}


def test_three_nested_loops_are_accepted_and_stopped_at_the_output_bound(settings):
    # Given nested loops over 200 items, 19.6 MB of output in 63 s before the sandbox
    settings.HUB_RENDER_MAX_CHARS = 20_000
    settings.HUB_RENDER_SECONDS = 60.0  # so that only the output bound can stop it soon
    (spec,) = load_rule_file(rule_file(summary=NESTED))
    template = compile_template(spec["ticket"]["summary"])

    # When it renders, Then it stops at the output bound, named with its value
    with pytest.raises(RenderBoundExceeded) as caught:
        render_text(template, with_data(tags=list(range(200))))
    assert str(caught.value) == "the output passed HUB_RENDER_MAX_CHARS (20000 characters)"


def test_the_time_bound_cuts_a_loop_that_is_slow_but_quiet(settings):
    # Given nested loops that write nothing and take seconds over 200 items
    settings.HUB_RENDER_SECONDS = 0.05
    template = compile_template(QUIET)

    with pytest.raises(RenderBoundExceeded) as caught:
        render_text(template, with_data(tags=list(range(200))))
    assert str(caught.value) == "the render took longer than HUB_RENDER_SECONDS (0.05 seconds)"


def test_the_time_bound_cuts_one_long_filter_in_the_main_thread(settings):
    # Given one node that runs long with no node between (the check at each node cannot see it):
    # printing a million numbers takes about a second
    settings.HUB_RENDER_MAX_CHARS = 100_000_000
    settings.HUB_RENDER_SECONDS = 0.01
    template = compile_template("{{ data.numbers|pprint }}")

    # When it renders in the main thread, Then SIGALRM stops it
    with pytest.raises(RenderBoundExceeded) as caught:
        render_text(template, with_data(numbers=list(range(1_000_000))))
    assert str(caught.value) == "the render took longer than HUB_RENDER_SECONDS (0.01 seconds)"


def test_off_the_main_thread_the_time_bound_is_checked_at_each_node(settings):
    # Given a thread (which gets no signals) rendering the slow, quiet loops
    settings.HUB_RENDER_SECONDS = 0.05
    template, outcome = compile_template(QUIET), []
    handler = signal.getsignal(signal.SIGALRM)

    def render() -> None:
        try:
            render_text(template, with_data(tags=list(range(200))))
        except RenderBoundExceeded as exc:
            outcome.append(str(exc))

    thread = threading.Thread(target=render)
    thread.start()
    thread.join()

    assert outcome == ["the render took longer than HUB_RENDER_SECONDS (0.05 seconds)"]
    assert signal.getsignal(signal.SIGALRM) is handler, "the main thread's handler is left alone"


def test_the_previous_alarm_handler_and_timer_are_put_back(settings):
    # Given a SIGALRM handler and a timer of someone else's (in place of pytest-timeout's)
    settings.HUB_RENDER_SECONDS = 0.05

    def theirs(signum, frame) -> None:
        pass

    saved_handler = signal.signal(signal.SIGALRM, theirs)
    saved_timer = signal.setitimer(signal.ITIMER_REAL, 1000)
    try:
        # When one render finishes and another passes its time bound
        render_text(compile_template("{{ data.name }}"), CONTEXT)
        with pytest.raises(RenderBoundExceeded):
            render_text(compile_template(QUIET), with_data(tags=list(range(200))))
        handler, (delay, _) = signal.getsignal(signal.SIGALRM), signal.getitimer(signal.ITIMER_REAL)
    finally:
        signal.signal(signal.SIGALRM, saved_handler)
        signal.setitimer(signal.ITIMER_REAL, *saved_timer)

    # Then theirs is the handler again, and their timer runs on
    assert handler is theirs
    assert 0 < delay <= 1000, f"their timer is re-armed, not cancelled: {delay}"


def test_a_template_error_that_is_not_a_bound_stays_a_plain_template_failure():
    with pytest.raises(TemplateFailure) as caught:
        render_text(compile_template("{{ data.id|divisibleby:0 }}"), CONTEXT)
    assert type(caught.value) is TemplateFailure, "not RenderBoundExceeded"
    assert str(caught.value) == "ZeroDivisionError: integer modulo by zero"


def hostile_beside_the_examples(settings) -> None:
    """The example rules, and hostile-refunds: prod-refunds with a summary of nested loops; only
    the output bound (20,000 characters) can stop it soon."""
    settings.HUB_RENDER_MAX_CHARS = 20_000
    settings.HUB_RENDER_SECONDS = 60.0
    import_rules((EXAMPLES / "rules.yaml").read_text())
    hostile = Rule.objects.get(name="prod-refunds")
    hostile.pk, hostile.name, hostile.summary = None, "hostile-refunds", NESTED
    hostile.save()


@pytest.mark.django_db
def test_a_rule_stopped_at_a_bound_is_recorded_and_the_other_rules_go_on(settings):
    # Given the example rules, and a second refunds rule whose summary loops nested
    hostile_beside_the_examples(settings)

    # When a refund with 200 tags arrives
    event = {
        "database": "shop",
        "table": "orders",
        "type": "update",
        "ts": 1763700000,
        "xid": 10,
        "data": {"id": 1, "status": "refunded", "tags": list(range(200))},
        "old": {"status": "paid"},
    }
    batch = {
        "v": 1,
        "env": "prod",
        "source": "maxwell",
        "origin": "db1:stdin",
        "events": [[1, json.dumps(event)]],
    }
    result = process_cdc_batch({**batch, "rejects": []})

    # Then the healthy rule asks for its ticket, and the hostile one's bound is its error
    assert len(result.new_requests) == 1
    error = ErrorLog.objects.get(kind=ErrorLog.Kind.TEMPLATE)
    assert error.where.startswith("rule hostile-refunds, db1:stdin line 1"), error.where
    assert (
        error.message == "ticket template failed: the output passed HUB_RENDER_MAX_CHARS (20000 characters)"
    )


# --- Filters, bounded ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ('{{ "x"|ljust:2000000000 }}', "ljust: a width of 2000000000 is over the bound of 1000"),
        ('{{ data.name|rjust:"5000" }}', "rjust: a width of 5000 is over the bound of 1000"),
        ("{{ data.name|center:1001 }}", "center: a width of 1001 is over the bound of 1000"),
        (
            '{{ data.id|stringformat:"2000000000s" }}',
            "stringformat: a width of 2000000000 is over the bound of 1000",
        ),
        (
            '{{ data.id|stringformat:".5000f" }}',
            "stringformat: a precision of 5000 is over the bound of 1000",
        ),
        (
            '{{ data|stringformat:"(a)s" }}',
            "stringformat: '(a)s' is not one conversion such as 's', '05d' or '.2f'",
        ),
        ("{{ data.total|floatformat:5000 }}", "floatformat: 5000 decimal places is over the bound of 1000"),
        (
            '{{ data.total|floatformat:"-5000g" }}',
            "floatformat: 5000 decimal places is over the bound of 1000",
        ),
        # inside tags as well as {{ }}
        (
            '{% if data.name|ljust:5000 == "x" %}x{% endif %}',
            "ljust: a width of 5000 is over the bound of 1000",
        ),
        (
            "{% with padded=data.name|ljust:5000 %}{% endwith %}",
            "ljust: a width of 5000 is over the bound of 1000",
        ),
        (
            "{% for c in data.name|ljust:5000 %}{% endfor %}",
            "ljust: a width of 5000 is over the bound of 1000",
        ),
        ("{% filter center:5000 %}x{% endfilter %}", "center: a width of 5000 is over the bound of 1000"),
    ],
)
def test_a_literal_filter_argument_over_its_bound_is_refused_at_import(template, reason):
    assert problems_of(rule_file(summary=template)) == [COMPILE_ERROR + reason]


def test_a_width_at_the_bound_is_accepted():
    text = render_text(compile_template("{{ data.name|center:1000 }}"), CONTEXT)
    assert len(text) == 1000


def test_a_width_from_event_data_over_its_bound_fails_the_render_naming_it():
    # Given a rule padding a name to a width the event gives
    (spec,) = load_rule_file(rule_file(summary="{{ data.name|ljust:data.width }}"))
    template = compile_template(spec["ticket"]["summary"])

    # When an event asks for 2,000,000,000 (2 GB, then MemoryError, before the sandbox)
    with pytest.raises(RenderBoundExceeded) as caught:
        render_text(template, with_data(name="x", width=2_000_000_000))

    # Then the render fails before padding, naming the bound
    assert str(caught.value) == "ljust: a width of 2000000000 is over the bound of 1000"


def test_a_bound_passed_inside_an_if_condition_still_fails_the_render():
    # Given a condition, whose errors Django turns into False
    template = compile_template('{% if data.name|ljust:data.width == "x" %}yes{% else %}no{% endif %}')

    with pytest.raises(RenderBoundExceeded) as caught:
        render_text(template, with_data(name="x", width=2_000_000_000))
    assert str(caught.value) == "ljust: a width of 2000000000 is over the bound of 1000"


def test_join_refuses_text_that_would_pass_the_output_bound(settings):
    # Given 200 tags joined with a 10,000-character separator from the event: 2 MB
    settings.HUB_RENDER_MAX_CHARS = 1_000_000
    template = compile_template("{{ data.tags|join:data.separator }}")

    with pytest.raises(RenderBoundExceeded) as caught:
        render_text(template, with_data(tags=list(range(200)), separator="-" * 10_000))
    assert str(caught.value) == "join: the joined text would pass HUB_RENDER_MAX_CHARS (1000000 characters)"


def test_pprint_refuses_a_value_that_would_print_past_the_output_bound(settings):
    settings.HUB_RENDER_MAX_CHARS = 20_000
    with pytest.raises(RenderBoundExceeded) as caught:
        render_text(compile_template("{{ data|pprint }}"), with_data(text="x" * 30_000))
    assert str(caught.value) == "pprint: the value prints past HUB_RENDER_MAX_CHARS (20000 characters)"


def test_pprint_stops_a_deep_value_whose_indentation_would_pass_the_output_bound(settings):
    # Given a value of about 3,000 characters, 50 lists deep: printed, each of its 500 words is on
    # a line of its own indented 50 spaces, 28,000 characters in all
    settings.HUB_RENDER_MAX_CHARS = 20_000
    deep = ["w"] * 500
    for _ in range(50):
        deep = [deep]

    with pytest.raises(RenderBoundExceeded) as caught:
        render_text(compile_template("{{ data.deep|pprint }}"), with_data(deep=deep))
    assert str(caught.value) == "pprint: the value prints past HUB_RENDER_MAX_CHARS (20000 characters)"


@pytest.mark.parametrize("start", ["x" * 100_000, ["x" * 100_000]], ids=["text", "list"])
def test_a_value_doubled_in_nested_withs_is_stopped_at_the_output_bound(start):
    # Given a value doubled five times over, which no node writes out
    template = compile_template(
        "{% with a=data.start|add:data.start %}{% with a=a|add:a %}{% with a=a|add:a %}"
        "{% with a=a|add:a %}{% with a=a|add:a %}{{ a|length }}"
        "{% endwith %}{% endwith %}{% endwith %}{% endwith %}{% endwith %}"
    )

    with pytest.raises(RenderBoundExceeded) as caught:
        render_text(template, with_data(start=start))
    assert str(caught.value) == "add: its result is over HUB_RENDER_MAX_CHARS (1000000 characters)"


@pytest.mark.django_db
def test_a_rule_past_a_bound_is_skipped_for_the_rest_of_its_batch_and_recorded_each_time(settings):
    # Given a hostile rule beside the example rules
    hostile_beside_the_examples(settings)

    # When a batch of 30 refunds with 200 tags each arrives
    def refund(n: int) -> str:
        data = {"id": n, "status": "refunded", "tags": list(range(200))}
        return json.dumps({"database": "shop", "table": "orders", "type": "update", "ts": 1763700000,
                           "xid": n, "data": data, "old": {"status": "paid"}})  # fmt: skip

    lines = [[n, refund(n)] for n in range(1, 31)]
    result = process_cdc_batch({"v": 1, "env": "prod", "source": "maxwell", "origin": "db1", "events": lines,
                                "rejects": []})  # fmt: skip

    # Then the hostile template rendered once, and its 29 later events are recorded as skipped
    assert len(result.new_requests) == 30, "the healthy rule's tickets"
    errors = ErrorLog.objects.filter(kind=ErrorLog.Kind.TEMPLATE, where__startswith="rule hostile-refunds")
    messages = sorted(errors.values_list("message", flat=True))
    assert len(messages) == 30
    assert sum("passed HUB_RENDER_MAX_CHARS" in m and "earlier" not in m for m in messages) == 1
    skipped = [m for m in messages if "not rendered: the template passed a bound" in m]
    assert len(skipped) == 29 and "earlier in this batch" in skipped[0], skipped[0]


@pytest.mark.django_db
def test_a_template_calling_a_method_of_the_event_changes_neither_the_record_nor_other_rules():
    # Given a rule whose summary calls dict.clear on the row, and a second rule printing it
    import_rules(
        """
rules:
  - name: a-clearing
    match: {database: shop, table: t}
    ticket: {project: OPS, summary: "cleared{{ data.clear }}{{ data.tags.clear }}"}
  - name: b-printing
    match: {database: shop, table: t}
    ticket: {project: OPS, summary: "id {{ data.id }} tags {{ data.tags|join:',' }}"}
"""
    )
    line = '{"database":"shop","table":"t","type":"insert","ts":1,"xid":1,"data":{"id":5,"tags":["a","b"]}}'

    # When an event matches both
    process_cdc_batch({"v": 1, "env": "prod", "source": "maxwell", "origin": "db1", "events": [[1, line]],
                       "rejects": []})  # fmt: skip

    # Then the second rule and the record see the row as it came
    from jira_bridge.models import TicketRequest
    from notifications.models import Event

    summaries = sorted(TicketRequest.objects.values_list("fields__summary", flat=True))
    assert summaries == ["clearedNone", "id 5 tags a,b"], summaries
    assert Event.objects.get().payload["data"] == {"id": 5, "tags": ["a", "b"]}


def test_join_of_a_json_object_is_refused_before_joining_past_the_output_bound(settings):
    settings.HUB_RENDER_MAX_CHARS = 20_000
    template = compile_template("{{ data.obj|join:data.sep }}")
    with pytest.raises(RenderBoundExceeded, match="join"):
        render_text(template, with_data(obj={str(n): n for n in range(2000)}, sep="x" * 100))


def test_a_summary_that_renders_empty_is_that_rules_error_not_a_ticket_jira_refuses():
    (spec,) = load_rule_file(rule_file(summary="{{ data.missing }}"))
    rule = Rule(name=spec["name"], source="cdc")
    rule.apply_spec(spec)
    with pytest.raises(TemplateFailure, match="the summary rendered empty"):
        compile_rule(rule).render("prod", {"data": {}}, "e1")
