"""A bad-input suite that keeps finding things: arbitrary JSON values, byte strings, nesting, huge
numbers and odd names through the publisher's parser, the batch path and the rule loader. Each
generated line is an event or a recorded rejection, and never takes another line with it. The
nastiest cases found live in tests/fixtures/nasty/lines.txt and run every time."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdc_publisher import exactjson
from cdc_publisher.events import MAX_DEPTH, InvalidEvent, parse_event
from notifications.models import ErrorLog, Event
from pipeline.batches import process_cdc_batch
from rules.rulefile import RuleError, load_rule_file, validate_rule
from tests.conftest import FIXTURES

CORPUS = (FIXTURES / "nasty" / "lines.txt").read_bytes().splitlines()
ROW = b'{"database":"shop","table":"orders","type":"insert","ts":1763700000,"xid":%d,"data":{"id":%d}}'

names = st.text(min_size=0, max_size=80)
numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.integers(min_value=-(2**63) - 2, max_value=-(2**63) + 2),  # where orjson stops being exact
    st.integers(min_value=2**64 - 2, max_value=2**64 + 2),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).map(str).map(exactjson.Number),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=40))
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)
maybe_names = st.one_of(names, values)
events = st.fixed_dictionaries(
    {"type": st.sampled_from(["insert", "update", "delete", "table-create", "bootstrap-insert", "upsert"])},
    optional={"database": maybe_names, "table": maybe_names, "data": values, "old": values, "ts": values,
              "xid": values, "position": values},
)  # fmt: skip


def as_line(value) -> bytes:
    """A generated value as the line a publisher would read (numbers written exactly)."""
    try:
        return exactjson.dumps(value)
    except (TypeError, ValueError):  # e.g. a Number orjson cannot write: let json try
        return json.dumps(value, default=str).encode()


def depth(value, level: int = 1) -> int:
    """Levels of objects and lists, the event itself being the first."""
    if isinstance(value, dict):
        return max([level, *(depth(v, level + 1) for v in value.values())])
    if isinstance(value, list):
        return max([level, *(depth(v, level + 1) for v in value)])
    return 0


def parses_or_is_refused(raw: bytes) -> dict | None:
    """The parser's promise: an event the hub can store and write back, or InvalidEvent."""
    try:
        event = parse_event(raw)
    except InvalidEvent as exc:
        assert str(exc), "a refusal says why"
        return None
    assert isinstance(event, dict) and isinstance(event["database"], str)
    assert depth(event) <= MAX_DEPTH
    written = exactjson.dumps(event)
    assert exactjson.dumps(exactjson.loads(written)) == written, "written back as read, digit for digit"
    return event


@given(events)
@settings(max_examples=300, deadline=None)
def test_any_json_object_is_an_event_or_a_refusal_with_a_reason(value):
    parses_or_is_refused(as_line(value))


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_bytes_are_an_event_or_a_refusal(raw):
    parses_or_is_refused(raw)


@given(
    st.dictionaries(
        st.text(st.characters(exclude_categories=[]), max_size=8),
        st.text(st.characters(exclude_categories=[]), max_size=20),
        max_size=4,
    )
)
@settings(max_examples=300, deadline=None)
def test_text_of_any_code_points_as_it_arrives_from_the_broker_is_an_event_or_a_refusal(data):
    # the broker's JSON hands the hub decoded text: lone surrogates come as themselves
    line = json.dumps({"database": "d", "table": "t", "type": "insert", "data": data}, ensure_ascii=False)
    parses_or_is_refused(line)


@given(st.integers(min_value=1, max_value=3 * MAX_DEPTH), st.sampled_from([b"[", b'{"k":']))
@settings(max_examples=60, deadline=None)
def test_nesting_of_any_depth_is_an_event_or_a_refusal(levels, opener):
    closer = b"]" if opener == b"[" else b"}"
    inner = opener * levels + b"1" + closer * levels
    event = parses_or_is_refused(b'{"database":"d","table":"t","type":"insert","data":{"x":' + inner + b"}}")
    assert (event is not None) == (levels + 2 <= MAX_DEPTH), f"{levels} levels inside data"


@pytest.mark.parametrize("raw", CORPUS, ids=[f"corpus line {n}" for n in range(1, len(CORPUS) + 1)])
def test_each_corpus_line_is_an_event_or_a_refusal(raw):
    parses_or_is_refused(raw)


def run_batch_of(lines: list[bytes]) -> None:
    """Lines into one batch (as the publisher sends: the ones it parsed as events, the rest as
    rejects), through the batch path; then each line is an event or a bad-input record."""
    Event.objects.all().delete()
    ErrorLog.objects.all().delete()
    events, rejects = [], []
    for n, raw in enumerate(lines, start=1):
        try:
            parse_event(raw)
            events.append([n, raw.decode()])
        except InvalidEvent as exc:
            rejects.append([n, raw.decode("utf-8", "backslashreplace").replace("\x00", "\\x00"), str(exc)])
    result = process_cdc_batch({"v": 1, "env": "prod", "source": "maxwell", "origin": "prop",
                                "events": events, "rejects": rejects})  # fmt: skip
    recorded = Event.objects.count()
    bad = ErrorLog.objects.filter(kind=ErrorLog.Kind.BAD_INPUT).count()
    assert recorded + bad + result.duplicates == len(lines), (recorded, bad, result.duplicates, len(lines))
    assert result.rejected == bad


@pytest.mark.django_db
@given(st.lists(st.one_of(events.map(as_line), st.binary(max_size=60)), min_size=1, max_size=12))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_batch_of_any_lines_records_each_as_an_event_or_bad_input(lines):
    valid = [ROW % (n, n) for n in range(1000, 1003)]
    run_batch_of([valid[0], *lines, valid[1], valid[2]])
    ids = set(Event.objects.values_list("payload__data__id", flat=True))
    assert {1000, 1001, 1002} <= ids, "the valid lines around them are recorded"


@pytest.mark.django_db
@given(st.lists(st.text(st.characters(exclude_categories=[]), max_size=30), min_size=1, max_size=6))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_batch_sent_by_hand_with_any_text_records_each_line_as_an_event_or_bad_input(texts):
    # lines as a batch by hand (or an older publisher) may carry: any code points, as text
    Event.objects.all().delete()
    ErrorLog.objects.all().delete()

    def line(n: int, text: str) -> str:
        event = {"database": "d", "table": "t", "type": "insert", "xid": n, "ts": 1, "data": {"v": text}}
        return json.dumps(event, ensure_ascii=False)

    lines = [[n, line(n, text)] for n, text in enumerate(texts)]
    rejects = [[100 + n, text, text] for n, text in enumerate(texts)]  # rejects with odd text too
    payload = {
        "v": 1,
        "env": "prod",
        "source": "maxwell",
        "origin": "hand",
        "events": lines,
        "rejects": rejects,
    }
    result = process_cdc_batch(payload)
    recorded, bad = Event.objects.count(), ErrorLog.objects.filter(kind=ErrorLog.Kind.BAD_INPUT).count()
    assert recorded + bad + result.duplicates == 2 * len(texts), (recorded, bad, result.duplicates)


@pytest.mark.django_db
def test_the_corpus_as_one_batch_records_each_line_as_an_event_or_bad_input():
    run_batch_of([ROW % (1, 1), *CORPUS, ROW % (2, 2)])
    assert {1, 2} <= set(Event.objects.values_list("payload__data__id", flat=True))


rule_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=12), children, max_size=3)
    ),
    max_leaves=20,
)
rules = st.fixed_dictionaries(
    {},
    optional={
        "name": rule_values, "source": st.sampled_from(["cdc", "oss", "x"]), "environments": rule_values,
        "match": st.fixed_dictionaries({}, optional={
            "database": rule_values, "table": rule_values, "type": rule_values, "bucket": rule_values,
            "where": st.dictionaries(st.sampled_from(["data.a", "old.b", "x", "data."]), rule_values,
                                     max_size=3),
        }),
        "ticket": st.fixed_dictionaries({}, optional={
            "project": rule_values,
            "summary": st.one_of(rule_values, st.text(alphabet="{}%#ab |:.", max_size=30)),
            "labels": rule_values, "description": rule_values,
        }),
        "group_by": rule_values, "group_window": rule_values, "redact": rule_values, "extra": rule_values,
    },
)  # fmt: skip


@given(rules)
@settings(max_examples=300, deadline=None)
def test_any_rule_is_accepted_or_refused_with_its_problems(raw):
    try:
        spec = validate_rule(raw)
    except RuleError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
    else:
        assert spec["name"] and spec["ticket"]["project"]


@given(st.text(max_size=400))
@settings(max_examples=200, deadline=None)
def test_any_text_is_a_rule_file_or_refused(text):
    try:
        load_rule_file(text)
    except RuleError as exc:
        assert exc.problems
