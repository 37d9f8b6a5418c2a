"""Which periods an Airflow data interval covers, and when a delivery is overdue.

The ingest DAGs run on monthly data intervals (`[month start, next month
start)` in the township's time zone). A run loads exactly the deliveries of
the months its interval covers, from `<landing>/<department>/<YYYY-MM>/`,
once that folder holds the department's `_DELIVERED` marker.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from ingestion.loader import DELIVERY_MARKER

TIMEZONE = ZoneInfo("Asia/Shanghai")


def _aware(moment: dt.datetime) -> dt.datetime:
    """A plain aware `datetime` in UTC.

    Airflow hands out pendulum DateTimes, whose arithmetic with a stdlib
    zone loses the zone; a naive value is taken as UTC, never as the
    machine's local time.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.fromtimestamp(moment.timestamp(), dt.timezone.utc)


def periods_for_interval(start: dt.datetime, end: dt.datetime) -> list[str]:
    """The months ('YYYY-MM') whose first day falls in [start, end), in local time."""
    local_start = _aware(start).astimezone(TIMEZONE)
    local_end = _aware(end).astimezone(TIMEZONE)
    year, month = local_start.year, local_start.month
    if local_start.day != 1 or local_start.time() != dt.time(0):
        # an interval not starting on a month boundary covers the months starting inside it
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    periods = []
    while dt.datetime(year, month, 1, tzinfo=TIMEZONE) < local_end:
        periods.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return periods


def deadline_hours() -> float:
    """Hours after a month ends before its missing delivery fails the run: `Settings.delivery_deadline_hours`."""
    from govkpi.settings import load_settings

    return load_settings().delivery_deadline_hours


def delivery_deadline(interval_end: dt.datetime, hours: float | None = None) -> dt.datetime:
    return _aware(interval_end) + dt.timedelta(hours=deadline_hours() if hours is None else hours)


def missing_delivery_message(department: str, period: str, folder: str, deadline: dt.datetime) -> str:
    return (
        f"no delivery of department {department!r} for period {period}: expected the marker "
        f"{folder}/{DELIVERY_MARKER} (written by the department after the period's files) by "
        f"{deadline.astimezone(TIMEZONE):%Y-%m-%d %H:%M} {TIMEZONE.key}. Ask the department for the "
        f"{period} extracts; once they are in {folder}/ with the marker, clear this task to load them."
    )
