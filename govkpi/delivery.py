"""Deliveries: where a department's extracts land, when a delivery is complete, which are due, when one is overdue.

The one home of the delivery concept; the loader, the ingest DAGs (their
operator and trigger), `govkpi run` and `govkpi load` use it.

- **Layout**: `<landing>/<department>/<period>/<files>`, a period being a
  year (`2023`) or a month (`2023-03`). The department writes the
  `_DELIVERED` marker into the folder last: its presence says every file is
  there (none still being copied).
- **Intervals**: the ingest DAGs run on monthly data intervals
  (`[month start, next month start)` in the township's time zone); a run
  loads exactly the months its interval covers, once their markers are
  there, and fails naming what is missing `delivery_deadline_hours` after
  the interval's end.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

TIMEZONE = ZoneInfo("Asia/Shanghai")
# Written by the department last, after every file of a period's delivery.
DELIVERY_MARKER = "_DELIVERED"
PERIOD = re.compile(r"^\d{4}(?:-(?:0[1-9]|1[0-2]))?$")


def period_folder(landing_dir: Path, department: str, period: str) -> Path:
    """Where a department's delivery for a period is expected."""
    return landing_dir / department / period


def marker(landing_dir: Path, department: str, period: str) -> Path:
    """The file whose presence says the period's delivery is complete."""
    return period_folder(landing_dir, department, period) / DELIVERY_MARKER


def is_delivered(landing_dir: Path, department: str, period: str) -> bool:
    """Whether the delivery for the period is complete (its marker is there)."""
    return marker(landing_dir, department, period).is_file()


def delivered_periods(landing_dir: Path, department: str) -> list[str]:
    """Every period of the department whose delivery is complete, oldest first."""
    root = landing_dir / department
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and PERIOD.match(p.name) and (p / DELIVERY_MARKER).is_file())


def incomplete_folders(landing_dir: Path, department: str) -> list[Path]:
    """The department's folders without a marker: deliveries that may still be arriving (hidden folders are scratch space)."""
    root = landing_dir / department
    if not root.is_dir():
        return []
    complete = set(delivered_periods(landing_dir, department))
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in complete)


def incomplete_message(folder: Path) -> str:
    return (
        f"skipped {folder}: no {DELIVERY_MARKER} marker, so the delivery may be incomplete "
        f"(write {folder / DELIVERY_MARKER} once every file is there)"
    )


def no_delivery_message(landing_dir: Path, department: str) -> str:
    root = landing_dir / department
    return (
        f"no complete delivery of department {department!r} under {root}: "
        f"put the extracts in {root}/<YYYY-MM>/ and write {DELIVERY_MARKER} there last"
    )


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


def delivery_deadline(interval_end: dt.datetime, hours: float) -> dt.datetime:
    """When a delivery of the interval is overdue: `hours` (`Settings.delivery_deadline_hours`) after its end, in UTC."""
    return _aware(interval_end) + dt.timedelta(hours=hours)


def missing_delivery_message(department: str, period: str, folder: str, deadline: dt.datetime) -> str:
    return (
        f"no delivery of department {department!r} for period {period}: expected the marker "
        f"{folder}/{DELIVERY_MARKER} (written by the department after the period's files) by "
        f"{deadline.astimezone(TIMEZONE):%Y-%m-%d %H:%M} {TIMEZONE.key}. Ask the department for the "
        f"{period} extracts; once they are in {folder}/ with the marker, clear this task to load them."
    )
