"""Every line the hub cannot store is refused by the publisher with its reason, and never takes
another line with it; numbers keep every digit; long lines are read in linear time, and capped."""

import os
import threading
from decimal import Decimal

import pytest

from cdc_publisher import exactjson
from cdc_publisher.events import MAX_DEPTH, InvalidEvent, parse_event
from cdc_publisher.publisher import OverlongLine, read_lines
from tests.conftest import run_publisher


def row(data: str, **envelope: str) -> str:
    fields = {"database": '"shop"', "table": '"orders"', "type": '"insert"', "ts": "1", **envelope}
    head = ",".join(f'"{k}":{v}' for k, v in fields.items())
    return "{" + head + ',"data":' + data + "}"


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (row('{"id":1}', table='{"a":1}'), "'table' is a object, not a string"),
        (row('{"id":1}', table="[1,2]"), "'table' is a list, not a string"),
        (row('{"id":1}', database="7"), "missing 'database'"),
        (row('{"id":1}', table='"' + "t" * 65 + '"'), "'table' longer than 64 characters"),
        (row('{"x":' + nested(MAX_DEPTH) + "}"), f"nested deeper than {MAX_DEPTH} levels"),
        (row('{"x":' + nested(5000) + "}"), f"nested deeper than {MAX_DEPTH} levels"),
        (row('{"x":"\\ud800"}'), "lone UTF-16 surrogate"),
        (row('{"x":NaN}'), "NaN is not a JSON number"),
        (row('{"x":1e400000}'), "beyond 10^±400"),
        (row('{"x":0.' + "0" * 16_400 + "1}"), "beyond 10^±400"),
        (row('{"x":' + "9" * 4301 + "}"), "an integer of more than 4,300 digits"),
        (b'{"database":"shop","type":"insert","data":{"x":"\xff"}}', "not JSON"),
    ],
)
def test_a_line_the_hub_could_not_store_is_refused_with_its_reason(line, reason):
    with pytest.raises(InvalidEvent) as refused:
        parse_event(line)
    assert reason in str(refused.value), str(refused.value)


def test_nesting_up_to_the_bound_is_accepted():
    # the event is level 1 and data level 2, so a column may nest MAX_DEPTH - 2 more levels
    event = parse_event(row('{"x":' + nested(MAX_DEPTH - 2) + "}"))
    assert event["data"]["x"][0][0][0] is not None


def test_numbers_keep_every_digit():
    event = parse_event(
        row('{"a":123456789012345678901234567890,"b":18446744073709551616,"c":12345678901234567.123456789}')
    )
    data = event["data"]
    assert str(data["a"]) == "123456789012345678901234567890"
    assert str(data["b"]) == "18446744073709551616"
    assert str(data["c"]) == "12345678901234567.123456789"
    assert data["c"] == Decimal("12345678901234567.123456789")
    assert exactjson.dumps(data) == (
        b'{"a":123456789012345678901234567890,"b":18446744073709551616,"c":12345678901234567.123456789}'
    )
    assert repr(data["c"]) == "12345678901234567.123456789", "pprint in a template shows the number"


def feed(data: bytes, max_bytes: int) -> list:
    read, write = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(write, data) and None, os.close(write)))
    with os.fdopen(read, "rb") as stream:
        writer.start()
        lines = list(read_lines(stream, lambda: None, 5.0, max_bytes))
    writer.join()
    return lines


def test_a_line_over_the_bound_is_kept_as_its_head_and_length_and_reading_goes_on():
    long_line = b'{"a":"' + b"x" * 300_000 + b'"}'
    lines = feed(b"first\n" + long_line + b"\nlast\n", max_bytes=100_000)
    assert lines[0] == b"first" and lines[2] == b"last", "the lines around it are untouched"
    assert isinstance(lines[1], OverlongLine) and lines[1].size == len(long_line)
    assert lines[1].head == long_line[:65536]


def test_a_long_line_under_the_bound_is_read_whole():
    long_line = b"y" * 5_000_000
    assert feed(long_line + b"\nz", max_bytes=16 << 20) == [long_line, b"z"]


def test_the_publisher_rejects_an_overlong_line_and_publishes_its_neighbours(broker):
    line = row('{"id":%d}')
    stdin = (line % 1 + "\n" + row('{"blob":"' + "b" * 5000 + '"}') + "\n" + line % 2 + "\n").encode()

    result = run_publisher("prod", stdin, "--max-line-bytes", "1000")

    stderr = result.stderr.decode()
    assert "line 2 rejected: line of 5,0" in stderr and "over --max-line-bytes (1,000)" in stderr, stderr
    assert stderr.strip().endswith("read 3 lines: 2 events published in 1 batches, 1 rejected"), stderr


def test_integers_at_the_edges_of_64_bits_and_decimals_keep_their_digits_and_their_notation():
    edges = ["-9223372036854775809", "-9223372036854775808", "18446744073709551615", "18446744073709551616"]
    for text in [*edges, "0.000000100000000000000000000000", "-0.0000001", "1.50"]:
        event = parse_event(row('{"x":' + text + "}"))
        assert str(event["data"]["x"]) == text, f"{text} read as {event['data']['x']!r}"
        assert exactjson.dumps(event["data"]) == b'{"x":' + text.encode() + b"}", "written back as read"


def test_text_from_the_broker_with_a_lone_surrogate_in_it_is_refused():
    # the broker's JSON has decoded the escape: the character itself is in the line
    with pytest.raises(InvalidEvent, match="lone UTF-16 surrogate"):
        parse_event(row('{"password":"x","n":"\ud800"}'))


def test_the_hubs_bound_on_a_line_counts_bytes_not_characters():
    with pytest.raises(InvalidEvent, match="line of 1,2"):
        parse_event(row('{"n":"' + "é" * 600 + '"}'), max_bytes=1000)


def test_a_batch_is_sent_once_its_lines_reach_the_byte_bound():
    from cdc_publisher.publisher import Publisher

    sent = []
    publisher = Publisher(
        "prod", sent.append, batch_size=500, max_batch_bytes=2500, errors=open(os.devnull, "w")
    )
    line = row('{"blob":"' + "b" * 900 + '"}').encode()
    for n in range(1, 8):
        publisher.feed(n, line)
    publisher.flush()
    assert [len(batch["events"]) for batch in sent] == [3, 3, 1], (
        "no batch past the bound by more than a line"
    )
