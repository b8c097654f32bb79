from decimal import Decimal

import pytest

from cdc_publisher.events import InvalidEvent, event_identity, parse_event, raw_text
from tests.conftest import FIXTURES

MAXWELL = FIXTURES / "maxwell"


def fixture_lines(name: str) -> list[bytes]:
    return (MAXWELL / name).read_bytes().splitlines()


def test_it_parses_an_insert_with_every_optional_field():
    (line,) = fixture_lines("insert.jsonl")
    event = parse_event(line)
    assert (event["database"], event["table"], event["type"]) == ("shop", "orders", "insert")
    assert event["data"] == {"id": 1, "status": "new", "total": Decimal("19.99")}, "numbers are exact"
    assert event["position"] == "mysql-bin.000006:800911"


def test_it_parses_updates_with_their_old_values():
    events = [parse_event(line) for line in fixture_lines("update.jsonl")]
    assert [e["old"] for e in events] == [{"status": "paid"}, {"status": "paid"}]
    assert [e.get("commit") for e in events] == [None, True], "only the last row carries commit"


def test_it_parses_a_delete():
    (line,) = fixture_lines("delete.jsonl")
    assert parse_event(line)["data"]["email"] == "a@example.com"


def test_it_accepts_bootstrap_runs_and_ddl():
    types = [
        parse_event(line)["type"] for line in fixture_lines("bootstrap.jsonl") + fixture_lines("ddl.jsonl")
    ]
    assert types == [
        "bootstrap-start",
        "bootstrap-insert",
        "bootstrap-insert",
        "bootstrap-complete",
        "table-alter",
        "database-create",
    ]


@pytest.mark.parametrize(
    ("lineno", "reason"),
    [
        (1, "not JSON"),
        (2, "not a JSON object but list"),
        (3, "missing 'database'"),
        (4, "missing 'table'"),
        (5, "missing 'type'"),
        (6, "unknown type 'upsert'"),
        (7, "update event without a 'data' object"),
        (8, "'old' is not an object"),
        (9, "not JSON"),  # latin-1 bytes: not UTF-8
    ],
)
def test_it_rejects_each_broken_line_with_its_reason(lineno, reason):
    line = fixture_lines("broken.jsonl")[lineno - 1]
    with pytest.raises(InvalidEvent) as caught:
        parse_event(line)
    assert reason in str(caught.value), f"line {lineno}: {caught.value}"


def test_event_identity_uses_binlog_coordinates_when_maxwell_gives_them():
    (line,) = fixture_lines("insert.jsonl")
    assert event_identity("prod", parse_event(line), line) == "prod:mysql-bin.000006:800911:8249:0"


def test_event_identity_falls_back_to_a_hash_of_the_line():
    first, second = fixture_lines("update.jsonl")
    ids = {event_identity("prod", parse_event(raw), raw) for raw in (first, second, first + b"  ")}
    assert len(ids) == 2, "same line (up to white space) must give the same id, different lines not"


def test_raw_text_keeps_undecodable_bytes_visible_and_cuts_huge_lines():
    assert raw_text(b"caf\xe9") == "caf\\xe9"
    kept = raw_text(b"x" * 70_000)
    assert kept.startswith("x" * 100) and kept.endswith("[4464 more bytes not kept]")


def test_a_database_or_table_name_longer_than_mysql_allows_is_rejected_with_the_reason():
    long_table = '{"database":"shop","table":"' + "t" * 65 + '","type":"insert","data":{}}'
    with pytest.raises(InvalidEvent, match="'table' longer than 64"):
        parse_event(long_table)
