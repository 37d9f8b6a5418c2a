"""Airflow triggers (they run in the triggerer, so they live in the installed package)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class DeliveryMarkerTrigger(BaseTrigger):
    """Wait, without holding a worker slot, until every marker file exists or the deadline passes.

    Fires once: {"status": "delivered"} when all markers are there, or
    {"status": "overdue", "missing": [...]} at the deadline. Every event
    also carries the markers and the deadline, so the task that resumes
    needs nothing else (not every runner hands the deferral's kwargs back:
    `airflow dags test` 3.3 does not).
    """

    def __init__(self, markers: list[str], deadline: str, poll_seconds: float = 60.0) -> None:
        super().__init__()
        self.markers = list(markers)
        self.deadline = deadline  # ISO 8601 with offset: triggers are serialised as JSON
        self.poll_seconds = poll_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"markers": self.markers, "deadline": self.deadline, "poll_seconds": self.poll_seconds},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = dt.datetime.fromisoformat(self.deadline)
        while True:
            missing = [m for m in self.markers if not os.path.isfile(m)]
            if not missing:
                yield TriggerEvent({"status": "delivered", "markers": self.markers, "deadline": self.deadline})
                return
            now = dt.datetime.now(dt.timezone.utc)
            if now >= deadline:
                yield TriggerEvent(
                    {"status": "overdue", "missing": missing, "markers": self.markers, "deadline": self.deadline}
                )
                return
            self.log.info("waiting for %s (deadline %s)", ", ".join(missing), self.deadline)
            await asyncio.sleep(min(self.poll_seconds, max((deadline - now).total_seconds(), 0.1)))
