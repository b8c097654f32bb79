"""MySQL's GEOMETRY values as the WKT text Maxwell prints ("POINT (3 2)").

A MySQL geometry value is a 4-byte SRID followed by OGC well-known binary (WKB). Maxwell reads the
WKB with JTS 1.13 and prints ``Geometry.toText()``; this writes the same text: two dimensions,
``TYPE (x y, x y)``, a MULTIPOINT's points each in parentheses, numbers in plain decimal with at
most 16 digits after the point (JTS's floating precision model), ``EMPTY`` for an empty part.
"""

import struct
from decimal import ROUND_HALF_EVEN, Context, Decimal

MAX_DEPTH = 32  # collections nest; a hostile value must not recurse without bound
NAMES = {
    1: "POINT",
    2: "LINESTRING",
    3: "POLYGON",
    4: "MULTIPOINT",
    5: "MULTILINESTRING",
    6: "MULTIPOLYGON",
    7: "GEOMETRYCOLLECTION",
}
SIXTEEN_PLACES = Decimal(1).scaleb(-16)
WIDE = Context(prec=400)  # a double has at most 309 integer digits; with 16 places that fits


class GeometryError(ValueError):
    """The bytes are not a geometry MySQL writes."""


def mysql_geometry_to_wkt(value: bytes) -> str:
    """WKT for a MySQL geometry value (SRID + WKB), or GeometryError."""
    if len(value) < 4 + 5:
        raise GeometryError(f"a geometry needs at least 9 bytes, got {len(value)}")
    reader = _Reader(memoryview(value)[4:])
    return reader.body(depth=0)


def format_number(number: float) -> str:
    """A coordinate as JTS writes it: Java's DecimalFormat("0.################"), which takes the
    shortest decimal digits that read back as the same double, rounds them half-even at 16 places
    (a tie settled by the exact binary value) and never uses an exponent."""
    if number != number or number in (float("inf"), float("-inf")):
        return repr(number)  # MySQL stores neither; keep the value visible rather than fail
    shortest = Decimal(repr(number))
    rounded = shortest.quantize(SIXTEEN_PLACES, rounding=ROUND_HALF_EVEN, context=WIDE)
    if abs(WIDE.subtract(shortest, rounded)) == SIXTEEN_PLACES / 2:  # a tie there; maybe not in the value
        rounded = Decimal(number).quantize(SIXTEEN_PLACES, rounding=ROUND_HALF_EVEN, context=WIDE)
    text = format(rounded, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class _Reader:
    def __init__(self, data: memoryview) -> None:
        self.data, self.at = data, 0

    def take(self, size: int) -> memoryview:
        if self.at + size > len(self.data):
            raise GeometryError(f"the geometry ends early, at byte {self.at + 4} of {len(self.data) + 4}")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def header(self) -> tuple[str, int]:
        order = self.take(1)[0]
        if order not in (0, 1):
            raise GeometryError(f"byte order {order} at byte {self.at + 3} is neither 0 nor 1")
        endian = "<" if order == 1 else ">"
        (kind,) = struct.unpack(endian + "I", self.take(4))
        return endian, kind

    def count(self, endian: str, item_size: int) -> int:
        (count,) = struct.unpack(endian + "I", self.take(4))
        if count * item_size > len(self.data) - self.at:  # bounds the loops by the bytes there are
            raise GeometryError(f"{count} parts claimed, more than the {len(self.data) - self.at} bytes left")
        return count

    def point(self, endian: str) -> str:
        x, y = struct.unpack(endian + "dd", self.take(16))
        return f"{format_number(x)} {format_number(y)}"

    def points(self, endian: str) -> str:
        count = self.count(endian, 16)
        return "(" + ", ".join(self.point(endian) for _ in range(count)) + ")" if count else "EMPTY"

    def rings(self, endian: str) -> str:
        count = self.count(endian, 4)
        return "(" + ", ".join(self.points(endian) for _ in range(count)) + ")" if count else "EMPTY"

    def body(self, depth: int, want: int | None = None, tagged: bool = True) -> str:
        if depth > MAX_DEPTH:
            raise GeometryError(f"geometry collections nested deeper than {MAX_DEPTH}")
        endian, kind = self.header()
        if kind not in NAMES or (want is not None and kind != want):
            expected = NAMES[want] if want is not None else "a type 1 to 7"
            raise GeometryError(f"geometry type {kind} where {expected} belongs")
        if kind == 1:
            text = "(" + self.point(endian) + ")"
        elif kind == 2:
            text = self.points(endian)
        elif kind == 3:
            text = self.rings(endian)
        else:  # a collection: its parts tagged; a MULTI*'s parts, all of one type, untagged
            part = None if kind == 7 else kind - 3
            count = self.count(endian, 9)  # the smallest part is a header and an empty count
            texts = [self.body(depth + 1, part, tagged=part is None) for _ in range(count)]
            text = "(" + ", ".join(texts) + ")" if count else "EMPTY"
        return f"{NAMES[kind]} {text}" if tagged else text
