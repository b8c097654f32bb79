"""A JSONField whose numbers stay exact (see cdc_publisher.exactjson): what a Maxwell line said,
digit for digit, in jsonb and back."""

import json
from decimal import Decimal
from typing import Any

from django.db import models
from psycopg.types.json import Jsonb

from cdc_publisher import exactjson


class ExactDecoder(json.JSONDecoder):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(parse_float=exactjson.Number, **kwargs)


class ExactEncoder(json.JSONEncoder):
    """For Django's own uses of the field's encoder (form validation, the admin's display): a number
    as its exact text, in quotes, rather than the float nearest to it. Values are stored by
    ``exactjson.dumps``, numbers as numbers."""

    def default(self, o: Any) -> Any:
        return str(o) if isinstance(o, Decimal) else super().default(o)


def exact_json(value: Any) -> str:
    return exactjson.dumps(value).decode()


def exact_loads(text: str) -> Any:
    """What exact_json wrote, back (its numbers were bounded when first read)."""
    return json.loads(text, cls=ExactDecoder)


class ExactJSONField(models.JSONField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("encoder", ExactEncoder)
        kwargs.setdefault("decoder", ExactDecoder)
        super().__init__(*args, **kwargs)

    def get_db_prep_value(self, value: Any, connection, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if hasattr(value, "as_sql"):  # an expression, as JSONField allows
            return value
        return Jsonb(value, dumps=exact_json)
