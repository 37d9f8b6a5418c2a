"""Which months a data interval covers, and when a delivery becomes overdue (no Airflow needed)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pendulum
import pytest

from govkpi.delivery import delivery_deadline, missing_delivery_message, periods_for_interval
from govkpi.settings import load_settings
from govkpi.triggers import DeliveryMarkerTrigger

UTC = dt.timezone.utc


def shanghai(*args: int) -> pendulum.DateTime:
    return pendulum.datetime(*args, tz="Asia/Shanghai")


@pytest.mark.parametrize(
    ("start", "end", "periods"),
    [
        (shanghai(2023, 3, 1), shanghai(2023, 4, 1), ["2023-03"]),
        # Airflow passes the interval in UTC: 2023-02-28 16:00Z is 1 March in Shanghai
        (pendulum.datetime(2023, 2, 28, 16), pendulum.datetime(2023, 3, 31, 16), ["2023-03"]),
        (shanghai(2023, 12, 1), shanghai(2024, 1, 1), ["2023-12"]),
        (shanghai(2023, 1, 1), shanghai(2024, 1, 1), [f"2023-{m:02d}" for m in range(1, 13)]),
        # an interval not on month boundaries covers the months starting inside it
        (shanghai(2023, 3, 15), shanghai(2023, 5, 15), ["2023-04", "2023-05"]),
        (shanghai(2023, 3, 2), shanghai(2023, 3, 30), []),
    ],
)
def test_periods_for_interval(start, end, periods):
    assert periods_for_interval(start, end) == periods


def test_deadline_is_hours_after_the_interval_end_in_utc(monkeypatch):
    end = pendulum.datetime(2023, 3, 31, 16)
    assert delivery_deadline(end, 0) == dt.datetime(2023, 3, 31, 16, tzinfo=UTC)
    monkeypatch.setenv("GOVKPI_DELIVERY_DEADLINE_HOURS", "48")
    deadline = delivery_deadline(end, load_settings().delivery_deadline_hours)
    assert deadline == dt.datetime(2023, 4, 2, 16, tzinfo=UTC)
    # comparable with an aware now (pendulum arithmetic with stdlib zones loses the zone)
    assert dt.datetime.now(UTC) > deadline
    monkeypatch.setenv("GOVKPI_DELIVERY_DEADLINE_HOURS", "soon")
    with pytest.raises(ValueError, match="GOVKPI_DELIVERY_DEADLINE_HOURS"):
        delivery_deadline(end, load_settings().delivery_deadline_hours)


def test_missing_delivery_message_names_department_period_and_path():
    text = missing_delivery_message("health", "2023-07", "/landing/health/2023-07", dt.datetime(2023, 8, 6, 0, tzinfo=UTC))
    assert "'health'" in text and "2023-07" in text and "/landing/health/2023-07/_DELIVERED" in text
    assert "2023-08-06 08:00 Asia/Shanghai" in text


def test_trigger_fires_when_the_marker_appears_or_at_the_deadline(tmp_path):
    marker = tmp_path / "2023-03" / "_DELIVERED"
    marker.parent.mkdir()

    async def first_event(trigger):
        async for event in trigger.run():
            return event.payload

    later = (dt.datetime.now(UTC) + dt.timedelta(hours=1)).isoformat()
    trigger = DeliveryMarkerTrigger(markers=[str(marker)], deadline=later, poll_seconds=0.05)

    async def deliver_then_wait():
        task = asyncio.ensure_future(first_event(trigger))
        await asyncio.sleep(0.3)
        assert not task.done(), "fired before the marker was written"
        marker.write_text("done\n")
        return await asyncio.wait_for(task, 5)

    assert asyncio.run(deliver_then_wait()) == {"status": "delivered", "markers": [str(marker)], "deadline": later}

    missing = tmp_path / "2023-04" / "_DELIVERED"
    soon = (dt.datetime.now(UTC) + dt.timedelta(seconds=0.3)).isoformat()
    overdue = asyncio.run(asyncio.wait_for(first_event(DeliveryMarkerTrigger([str(missing)], soon, 0.05)), 5))
    assert overdue == {"status": "overdue", "missing": [str(missing)], "markers": [str(missing)], "deadline": soon}
    # triggers travel to the triggerer as JSON: serialize() must round-trip
    path, kwargs = trigger.serialize()
    assert path == "govkpi.triggers.DeliveryMarkerTrigger"
    assert DeliveryMarkerTrigger(**kwargs).serialize() == (path, kwargs)


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("GOVKPI_DELIVERY_DEADLINE_HOURS", "delivery_deadline_hours"),
        ("GOVKPI_WAREHOUSE_DEADLINE_MINUTES", "warehouse_deadline_minutes"),
    ],
)
def test_deadline_settings_default_parse_and_name_a_bad_value(monkeypatch, name, read):
    def get() -> float:
        return getattr(load_settings(), read)

    monkeypatch.delenv(name, raising=False)
    assert get() > 0
    monkeypatch.setenv(name, "0")
    assert get() == 0
    monkeypatch.setenv(name, "1.5")
    assert get() == 1.5
    for bad, says in (("soon", "must be a number"), ("-1", "must not be negative")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ValueError, match=f"{name} {says}"):
            get()
