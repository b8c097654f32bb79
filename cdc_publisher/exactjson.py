"""JSON with exact numbers, from a Maxwell line to the hub's records and tickets.

Maxwell prints exact values: unsigned BIGINT up to 18446744073709551615, DECIMAL(65,30). A float
keeps about 17 significant digits and orjson reads any number that does not fit 64 bits as one,
so ``18446744073709551616`` would become ``18446744073709552000``. Here integers are Python ints
(of up to 4,300 digits, Python's own limit) and every other number is a :class:`Number` (a Decimal
written back exactly as it was read), and ``dumps`` writes them back digit for digit. Standard
library and orjson only: the publisher runs this on environment machines.
"""

import json
from decimal import Decimal
from typing import Any

import orjson

# Magnitudes and precision are bounded: every MySQL value fits (DECIMAL(65,30), DOUBLE's 10^±308),
# and so does PostgreSQL's numeric (which refuses 16,384 digits after the point), while ``1e131071``
# — 8 characters that print as 131,072 digits — does not.
MAX_EXPONENT = 400


class Number(Decimal):
    """A JSON number kept exactly as written: its value, and its text (``1.50`` stays ``1.50``,
    ``0.000000100000000000000000000000`` does not become ``1.00000000000000000000000E-7``), which
    ``str``, ``repr`` (so ``{{ data|pprint }}``) and ``dumps`` give back. Arithmetic on it gives
    plain Decimals."""

    __slots__ = ("text",)

    def __new__(cls, text: str) -> "Number":
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def _number(text: str) -> Number:
    number = Number(text)
    # Only a long number or one with an exponent can be out of bounds: most cost nothing more.
    if (len(text) > 24 or "e" in text or "E" in text) and (
        abs(number.as_tuple().exponent) > MAX_EXPONENT or (number and abs(number.adjusted()) > MAX_EXPONENT)
    ):
        raise ValueError(f"number {text[:40]}{'...' if len(text) > 40 else ''} beyond 10^±{MAX_EXPONENT}")
    return number


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# Integers are Python's own, exact at any size up to the 4,300 digits Python reads.
_decoder = json.JSONDecoder(parse_float=_number, parse_constant=_constant)


# Every digit as 0 and every fraction or exponent mark as ".", to find with two substring searches
# what orjson would read inexactly: a fraction or an exponent after a digit, or an integer of 19
# digits or more (it reads -2^63 - 1 and 2^64 as floats). Digits in strings count too: that only
# costs the exact parser.
_MARKS_B = bytes.maketrans(b"123456789eE", b"000000000..")
_MARKS = str.maketrans("123456789eE", "000000000..")
_LONG = "0" * 19  # -9223372036854775809 is 19 digits, and past what orjson reads exactly


def _exact_for_orjson(text: str | bytes) -> bool:
    if isinstance(text, bytes | bytearray):
        marked = text.translate(_MARKS_B)
        return b"0." not in marked and _LONG.encode() not in marked
    marked = text.translate(_MARKS)
    return "0." not in marked and _LONG not in marked


def loads(text: str | bytes) -> Any:
    """Parse JSON (RFC 8259: no NaN or Infinity), numbers exact. Raises ValueError.

    orjson where it reads every number exactly (about 4x faster: most lines), else, and wherever
    orjson refuses the text, the standard library's parser, so that what is accepted, and how it is
    refused, is always that parser's."""
    if _exact_for_orjson(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8")  # UnicodeDecodeError is a ValueError
    return _decoder.decode(text)


def _fragment(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(str(value))
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """``value`` as JSON, Numbers as they were written and integers of any size digit for digit."""
    try:
        return orjson.dumps(value, default=_fragment)
    except orjson.JSONEncodeError as exc:
        if "64-bit" not in str(exc):
            raise
    return orjson.dumps(_big_ints_as_fragments(value), default=_fragment)


def _big_ints_as_fragments(value: Any) -> Any:
    """orjson refuses integers past 64 bits before asking ``default``: only values holding one
    (a DECIMAL(30,0) column, say) take this slower path."""
    if type(value) is int and not -(2**63) <= value < 2**64:
        return orjson.Fragment(str(value))
    if isinstance(value, dict):
        return {k: _big_ints_as_fragments(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_big_ints_as_fragments(v) for v in value]
    return value
