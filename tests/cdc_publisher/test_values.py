"""Maxwell's value formatting, case by case where a server cannot easily produce the value: bytes
no MySQL writes, dates Java's calendar moves, numbers JTS rounds. The expected texts were checked
against Java 17's GregorianCalendar and DecimalFormat (see the commit that added them)."""

import base64
import struct
from types import SimpleNamespace

import pytest
from pymysqlreplication.constants import FIELD_TYPE

from cdc_publisher.geometry import MAX_DEPTH, GeometryError, format_number, mysql_geometry_to_wkt
from cdc_publisher.values import MysqlDate, decode_text, format_date, maxwell_value


def wkb(kind: int, body: bytes, order: str = "<") -> bytes:
    return (b"\x01" if order == "<" else b"\x00") + struct.pack(order + "I", kind) + body


def point(x: float, y: float, order: str = "<") -> bytes:
    return wkb(1, struct.pack(order + "dd", x, y), order)


def collection(kind: int, parts: list[bytes]) -> bytes:
    return wkb(kind, struct.pack("<I", len(parts)) + b"".join(parts))


SRID = b"\xe6\x10\x00\x00"  # 4326; Maxwell, like MySQL's WKT, does not print it


def test_geometry_reads_either_byte_order_and_nested_collections():
    # Given a collection holding a big-endian point and a collection with a multipoint
    value = SRID + collection(
        7, [point(3, 2, ">"), collection(7, [collection(4, [point(1, 1), point(-0.5, 2)])])]
    )
    # Then it prints as JTS's WKTWriter prints it
    assert mysql_geometry_to_wkt(value) == (
        "GEOMETRYCOLLECTION (POINT (3 2), GEOMETRYCOLLECTION (MULTIPOINT ((1 1), (-0.5 2))))"
    )
    assert mysql_geometry_to_wkt(SRID + collection(6, [])) == "MULTIPOLYGON EMPTY"


@pytest.mark.parametrize(
    "value, problem",
    [
        (SRID + point(1, 2)[:-1], "ends early"),
        (SRID + b"\x02" + point(1, 2)[1:], "byte order 2"),
        (SRID + wkb(9, b""), "geometry type 9"),
        (SRID + collection(4, [wkb(2, struct.pack("<I", 0))]), "type 2 where POINT belongs"),
        (SRID + wkb(2, struct.pack("<I", 2**32 - 1)), "4294967295 parts claimed"),
        (b"\x00\x00", "at least 9 bytes"),
    ],
)
def test_geometry_that_mysql_does_not_write_is_a_clear_error(value, problem):
    with pytest.raises(GeometryError, match=problem):
        mysql_geometry_to_wkt(value)


def test_geometry_nesting_is_bounded():
    # Given collections nested past the bound (a hostile value must not exhaust the stack)
    value = point(0, 0)
    for _ in range(MAX_DEPTH + 1):
        value = collection(7, [value])
    with pytest.raises(GeometryError, match="nested deeper"):
        mysql_geometry_to_wkt(SRID + value)


@pytest.mark.parametrize(
    "number, text",
    [
        (3.0, "3"),
        (-0.0, "-0"),
        (1 / 3, "0.3333333333333333"),
        (0.30000000000000004, "0.3"),
        (1e20, "100000000000000000000"),
        (1e-20, "0"),
        (2.5e-16, "0.0000000000000003"),  # a tie in the shortest digits; the binary value is above it
        (123456789.123456789, "123456789.12345679"),
    ],
)
def test_numbers_print_as_jts_prints_them(number, text):
    assert format_number(number) == text


@pytest.mark.parametrize(
    "fields, date_only, digits, text",
    [
        ((0, 0, 0), False, 4, "0000-00-00 00:00:00.0000"),
        ((2024, 0, 10), True, 0, "0000-00-00"),
        ((1, 1, 1), False, 6, "0001-01-01 00:00:00.000000"),
        ((2023, 2, 30, 10), False, 0, "2023-03-02 10:00:00"),  # Java's lenient calendar rolls it on
        ((1582, 10, 10), True, 0, "1582-10-20"),  # a day the Gregorian switch skipped
        ((1500, 2, 29), True, 0, "1500-02-29"),  # Julian: a leap year
        ((2024, 1, 2, 3, 4, 5, 120000), False, 3, "2024-01-02 03:04:05.120"),
    ],
)
def test_dates_print_as_maxwell_prints_them(fields, date_only, digits, text):
    assert format_date(MysqlDate(*fields), date_only, digits) == text


@pytest.mark.parametrize(
    "charset, raw, text",
    [
        ("ucs2", "Δx".encode("utf-16-be"), "Δx"),
        ("utf16", b"\xff\xfe" + "Δx".encode("utf-16-le"), "Δx"),  # Java honours a byte-order mark
        ("utf16le", "Δx".encode("utf-16-le"), "Δx"),
        ("utf32", "😀".encode("utf-32-be"), "😀"),
        ("cp1252", b"\x80 caf\xe9", "€ café"),  # MySQL's latin1 is Windows-1252
        ("utf8", b"ok \xff", "ok \ufffd"),  # undecodable bytes become U+FFFD, as in Java
    ],
)
def test_text_is_decoded_by_its_character_set(charset, raw, text):
    assert decode_text(raw, SimpleNamespace(character_set_name=charset)) == text


def test_a_character_set_python_cannot_decode_goes_out_as_base64_with_a_warning(capsys):
    column = SimpleNamespace(type=FIELD_TYPE.VARCHAR, name="a", character_set_name="swe7")
    assert maxwell_value(b"\x01\x02", column) == base64.b64encode(b"\x01\x02").decode()
    assert "no decoder for character set swe7" in capsys.readouterr().err


def test_a_geometry_that_cannot_be_read_goes_out_as_base64_with_a_warning(capsys):
    column = SimpleNamespace(type=FIELD_TYPE.GEOMETRY, name="shape", character_set_name="binary")
    assert maxwell_value(b"\x00" * 9, column) == base64.b64encode(b"\x00" * 9).decode()
    assert "column shape: geometry type 0" in capsys.readouterr().err
