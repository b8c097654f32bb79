"""A binlog column value as Maxwell prints it, value for value (``--source binlog``).

Maxwell's formatting lives in its ``schema/columndef/*ColumnDef.java`` and in the binlog reader it
configures (zero or invalid dates as a marker, strings as bytes). Where mysql-replication loses
what Maxwell prints, its row readers are replaced here (``read_raw_values``): strings stay bytes,
decoded below by the column's character set, and DATE/DATETIME stay the fields the binlog holds,
so a zero or invalid date is printed as Maxwell prints it instead of arriving as None (or, for an
invalid DATE, as an exception that would end the stream).
"""

import base64
import datetime as dt
import sys
from decimal import Decimal
from typing import Any, NamedTuple

import orjson
from pymysqlreplication.constants import FIELD_TYPE, NONE_SOURCE
from pymysqlreplication.row_event import RowsEvent

from cdc_publisher.geometry import GeometryError, mysql_geometry_to_wkt

# MySQL's character sets (as mysql-replication names them: utf8mb3 and utf8mb4 are "utf8", latin1
# is "cp1252", koi8r and koi8u are "koi8_r" and "koi8_u") to Python's codecs. Maxwell decodes
# latin1 and ascii as Windows-1252, which is what MySQL's latin1 is. Not here, because Python has
# no codec for them: armscii8, dec8, eucjpms, geostd8, hp8, keybcs2, swe7 (sent as base64, with a
# warning; Maxwell stops on them).
CODECS = {
    "utf8": "utf-8", "utf8mb3": "utf-8", "utf8mb4": "utf-8",
    "cp1252": "cp1252", "latin1": "cp1252", "ascii": "cp1252",
    "ucs2": "utf-16", "utf16": "utf-16", "utf16le": "utf-16-le", "utf32": "utf-32",
    "big5": "big5", "gbk": "gbk", "gb2312": "gb2312", "gb18030": "gb18030", "euckr": "euc_kr",
    "ujis": "euc_jp", "sjis": "shift_jis", "cp932": "cp932",
    "latin2": "iso8859_2", "latin5": "iso8859_9", "latin7": "iso8859_13",
    "greek": "iso8859_7", "hebrew": "iso8859_8",
    "cp1250": "cp1250", "cp1251": "cp1251", "cp1256": "cp1256", "cp1257": "cp1257",
    "cp850": "cp850", "cp852": "cp852", "cp866": "cp866",
    "koi8_r": "koi8_r", "koi8r": "koi8_r", "koi8_u": "koi8_u", "koi8u": "koi8_u",
    "macroman": "mac_roman", "macce": "mac_latin2", "tis620": "tis_620",
}  # fmt: skip
# Java's UTF-16 and UTF-32 decoders (Maxwell's for ucs2, utf16, utf32) read big-endian unless a
# byte-order mark says otherwise, and drop the mark.
BYTE_ORDER_MARKS = {
    "utf-16": ((b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le")),
    "utf-32": ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le")),
}
DATE_TYPES = (FIELD_TYPE.DATE, FIELD_TYPE.NEWDATE)
TIMESTAMP_TYPES = (FIELD_TYPE.TIMESTAMP, FIELD_TYPE.TIMESTAMP2)
# Java's calendar, which Maxwell's dates go through, is Julian before 15 October 1582.
GREGORIAN_CUTOVER = 2299161  # that day's Julian day number
_warned: set[str] = set()


class MysqlDate(NamedTuple):
    """A DATE or DATETIME as the binlog holds it: any fields, even zero or impossible ones."""

    year: int
    month: int
    day: int
    hour: int = 0
    minute: int = 0
    second: int = 0
    microsecond: int = 0


def maxwell_value(value: Any, column, as_json: bool = False, none_source: str | None = None) -> Any:
    """One column's value as Maxwell writes it (``as_json``: a MariaDB JSON column; ``none_source``:
    mysql-replication's reason for a None)."""
    if value is None:
        # mysql-replication reads an empty SET as None; Maxwell prints [].
        return [] if none_source == NONE_SOURCE.EMPTY_SET else None
    kind = column.type
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f").encode())  # exact: no float on the way
    if isinstance(value, MysqlDate):
        return format_date(value, kind in DATE_TYPES, getattr(column, "fsp", 0) or 0)
    if kind == FIELD_TYPE.GEOMETRY and isinstance(value, bytes):
        try:
            return mysql_geometry_to_wkt(value)
        except GeometryError as exc:
            warn(f"geometry:{column.name}", f"column {column.name}: {exc}; sending its bytes as base64")
            return base64.b64encode(value).decode()
    if isinstance(value, bytes):
        value = decode_text(value, column)
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
    if isinstance(value, set):
        return [member for member in (column.set_values or sorted(value)) if member in value]
    if kind == FIELD_TYPE.ENUM and value == "" and "" not in (column.enum_values or [])[1:]:
        return None  # index 0, the error value MySQL stores for a bad member; Maxwell prints null
    if isinstance(value, dt.datetime):  # a TIMESTAMP, in UTC
        digits = getattr(column, "fsp", 0) or 0
        if kind in TIMESTAMP_TYPES and value == dt.datetime(1970, 1, 1):
            return format_date(MysqlDate(0, 0, 0), False, digits)  # the zero TIMESTAMP
        return format_date(MysqlDate(*value.timetuple()[:6], value.microsecond), False, digits)
    if isinstance(value, dt.timedelta):
        return format_duration(value, getattr(column, "fsp", 0) or 0)
    if kind == FIELD_TYPE.BIT and isinstance(value, str):
        return int(value, 2)
    if (kind == FIELD_TYPE.JSON or as_json) and isinstance(value, str | bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value  # a MySQL JSON column arrives already nested


def decode_text(raw: bytes, column) -> str | bytes:
    """A string column's bytes as text in its character set; bytes for binary ones (and for a
    character set Python cannot decode). Undecodable bytes become U+FFFD, as in Maxwell (Java)."""
    charset = column.character_set_name
    if charset is None:  # no metadata (MySQL 5.x): mysql-replication's default
        charset = "utf8"
    if charset == "binary":
        return raw
    codec = CODECS.get(charset)
    if codec is None:
        warn(f"charset:{charset}", f"no decoder for character set {charset}; sending its columns as base64")
        return raw
    for mark, ordered in BYTE_ORDER_MARKS.get(codec, ()):
        if raw.startswith(mark):
            return raw[len(mark) :].decode(ordered, "replace")
    if codec in BYTE_ORDER_MARKS:
        codec += "-be"
    return raw.decode(codec, "replace")


def format_date(value: MysqlDate, date_only: bool, digits: int) -> str:
    """A DATE, DATETIME or TIMESTAMP as Maxwell prints it: a zero year, month or day prints as the
    zero date; any other fields go through Java's lenient calendar (so 2023-02-30 prints as
    2023-03-02, as Maxwell's does); the year always has four digits."""
    if value.year == 0 or value.month == 0 or value.day == 0:
        year = month = day = hour = minute = second = micro = 0
    else:
        year, month, day, hour, minute, second = java_calendar(*value[:6])
        micro = value.microsecond
    text = f"{year:04d}-{month:02d}-{day:02d}"
    if date_only:
        return text
    text += f" {hour:02d}:{minute:02d}:{second:02d}"
    return f"{text}.{micro:06d}"[: len(text) + 1 + digits] if digits else text


def java_calendar(year: int, month: int, day: int, hour: int, minute: int, second: int) -> tuple:
    """The fields Java's lenient GregorianCalendar (UTC) reads back after being set to these:
    days past a month's end roll into the next month, dates before 15 October 1582 are Julian,
    and the ten days the switch skipped (5 to 14 October 1582) land after it."""
    years, month = divmod(month - 1, 12)
    year, month = year + years, month + 1
    days, seconds = divmod(hour * 3600 + minute * 60 + second, 86400)
    gregorian = julian_day(year, month, 1, gregorian=True) + day - 1
    if year > 1582 or (year == 1582 and gregorian >= GREGORIAN_CUTOVER):
        number = gregorian + days
    else:
        number = julian_day(year, month, 1, gregorian=False) + day - 1 + days
    year, month, day = calendar_date(number, gregorian=number >= GREGORIAN_CUTOVER)
    return year, month, day, seconds // 3600, seconds % 3600 // 60, seconds % 60


def julian_day(year: int, month: int, day: int, gregorian: bool) -> int:
    """The Julian day number of a date in the Gregorian or the Julian calendar."""
    a = (14 - month) // 12
    y, m = year + 4800 - a, month + 12 * a - 3
    number = day + (153 * m + 2) // 5 + 365 * y + y // 4
    return number - y // 100 + y // 400 - 32045 if gregorian else number - 32083


def calendar_date(number: int, gregorian: bool) -> tuple[int, int, int]:
    """The date of a Julian day number in the Gregorian or the Julian calendar."""
    if gregorian:
        a = number + 32044
        centuries = (4 * a + 3) // 146097
        c = a - 146097 * centuries // 4
    else:
        centuries, c = 0, number + 32082
    d = (4 * c + 3) // 1461
    e = c - 1461 * d // 4
    m = (5 * e + 2) // 153
    return 100 * centuries + d - 4800 + m // 10, m + 3 - 12 * (m // 10), e - (153 * m + 2) // 5 + 1


def format_duration(value: dt.timedelta, digits: int) -> str:
    negative = value < dt.timedelta(0)
    value = -value if negative else value
    seconds = value.days * 86400 + value.seconds
    text = f"{'-' if negative else ''}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{text}.{value.microseconds:06d}"[: len(text) + 1 + digits] if digits else text


def warn(key: str, message: str) -> None:
    """A warning on stderr, once per key, so a table full of such values does not flood it."""
    if key not in _warned:
        _warned.add(key)
        print(f"cdc_publisher: {message}", file=sys.stderr, flush=True)


def _read_string(event, size: int, column) -> bytes:
    return event.packet.read_length_coded_pascal_string(size)


def _read_date(event) -> MysqlDate:
    packed = event.packet.read_uint24()
    return MysqlDate(packed >> 9, (packed >> 5) & 15, packed & 31)


def _read_datetime(event) -> MysqlDate:  # the format before MySQL 5.6: YYYYMMDDhhmmss as a number
    date, time = divmod(event.packet.read_uint64(), 1_000_000)
    year, month, day = date // 10000, date % 10000 // 100, date % 100
    return MysqlDate(year, month, day, time // 10000, time % 10000 // 100, time % 100)


def _read_datetime2(event, column) -> MysqlDate:
    # 1 bit sign, 17 bits year * 13 + month, 5 day, 5 hour, 6 minute, 6 second; then the fraction
    # in (fsp + 1) // 2 bytes, in units of 10 ** -(2 * bytes) seconds.
    packed = int.from_bytes(event.packet.read(5), "big")
    year, month = divmod((packed >> 22) & 0x1FFFF, 13)
    size = ((getattr(column, "fsp", 0) or 0) + 1) // 2
    fraction = int.from_bytes(event.packet.read(size), "big") * 10 ** (6 - 2 * size) if size else 0
    day, hour, minute, second = (packed >> 17) & 31, (packed >> 12) & 31, (packed >> 6) & 63, packed & 63
    return MysqlDate(year, month, day, hour, minute, second, fraction)


def read_raw_values() -> None:
    """Make mysql-replication (the version pinned in requirements/publisher.txt) hand over strings
    as bytes and dates as their fields. Its row reader calls these private methods; a release that
    renames them fails here, at start, rather than printing other values."""
    readers = {
        "_RowsEvent__read_string": _read_string,
        "_RowsEvent__read_date": _read_date,
        "_RowsEvent__read_datetime": _read_datetime,
        "_RowsEvent__read_datetime2": _read_datetime2,
    }
    missing = [name for name in readers if not hasattr(RowsEvent, name)]
    if missing:
        raise ImportError(
            f"mysql-replication has no {', '.join(missing)}: "
            "install the version in requirements/publisher.txt"
        )
    for name, reader in readers.items():
        setattr(RowsEvent, name, reader)


read_raw_values()
