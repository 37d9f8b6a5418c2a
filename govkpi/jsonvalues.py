"""Warehouse values as JSON: how the CLI and the files govkpi writes for tools print them."""

from __future__ import annotations

import datetime as dt
import decimal


def json_value(value: object) -> object:
    """A numeric as int when whole, else float; dates and times as ISO 8601; anything else as is."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def jsonable(value: object) -> object:
    """`value` with every dict, list and tuple walked, and each leaf as json_value gives it."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return json_value(value)
