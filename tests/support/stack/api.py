"""The REST API a deployment exposes, as the distributed stack's users drive it.

`AirflowApi` logs in at `/auth/token` (FAB: JSON user name and password,
answered with a JWT) and sends the token as a Bearer header.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

class ApiError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body[:1000]}")
        self.status = status


class AirflowApi:
    """A small client of Airflow 3's public REST API (`/api/v2`), logged in through the auth manager.

    FAB (the compose file's auth manager) answers POST /auth/token with
    {"username", "password"} as JSON by {"access_token": <JWT>}; every
    request then sends `Authorization: Bearer <JWT>`. The token is renewed
    on a 401 (it expires after `[api_auth] jwt_expiration_time`).
    """

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._token: str | None = None

    def login(self) -> str:
        response = self._client.post("/auth/token", json={"username": self.username, "password": self.password})
        if response.status_code not in (200, 201):
            raise ApiError("POST", "/auth/token", response.status_code, response.text)
        self._token = response.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, *, ok: Iterable[int] = (200, 201), **kwargs: Any) -> Any:
        if self._token is None:
            self.login()
        for attempt in (1, 2):
            response = self._client.request(method, path, headers={"Authorization": f"Bearer {self._token}"}, **kwargs)
            if response.status_code == 401 and attempt == 1:
                self.login()
                continue
            break
        if response.status_code not in tuple(ok):
            raise ApiError(method, path, response.status_code, response.text)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _pages(self, path: str, key: str, params: dict[str, Any] | None = None, page: int = 100) -> list[dict]:
        out: list[dict] = []
        offset = 0
        while True:
            body = self.request("GET", path, params={**(params or {}), "limit": page, "offset": offset})
            items = body.get(key) or []
            out += items
            offset += len(items)
            if not items or offset >= (body.get("total_entries") or 0):
                return out

    # DAGs
    def dag(self, dag_id: str) -> dict | None:
        try:
            return self.request("GET", f"/api/v2/dags/{quote(dag_id)}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def import_errors(self) -> list[dict]:
        return self._pages("/api/v2/importErrors", "import_errors")

    def unpause(self, dag_id: str) -> dict:
        return self.request("PATCH", f"/api/v2/dags/{quote(dag_id)}", json={"is_paused": False})

    def pause(self, dag_id: str) -> dict:
        return self.request("PATCH", f"/api/v2/dags/{quote(dag_id)}", json={"is_paused": True})

    # DAG runs
    def trigger(self, dag_id: str, conf: dict | None = None, logical_date: dt.datetime | None = None) -> dict:
        body = {"logical_date": logical_date.isoformat() if logical_date else None, "conf": conf or {}}
        return self.request("POST", f"/api/v2/dags/{quote(dag_id)}/dagRuns", json=body)

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.request("GET", f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}")

    def dag_runs(self, dag_id: str = "~", **params: Any) -> list[dict]:
        return self._pages(f"/api/v2/dags/{quote(dag_id)}/dagRuns", "dag_runs", params)

    def task_instances(self, dag_id: str = "~", run_id: str = "~", **params: Any) -> list[dict]:
        path = f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='~')}/taskInstances"
        return self._pages(path, "task_instances", params)

    def queued_asset_events(self, dag_id: str) -> list[dict]:
        try:
            body = self.request("GET", f"/api/v2/dags/{quote(dag_id)}/assets/queuedEvents")
        except ApiError as exc:
            if exc.status == 404:  # none queued
                return []
            raise
        return body.get("queued_events") or []

    # Backfills
    def create_backfill(
        self,
        dag_id: str,
        from_date: dt.datetime,
        to_date: dt.datetime,
        *,
        conf: dict | None = None,
        max_active_runs: int = 1,
        reprocess_behavior: str = "none",
    ) -> dict:
        body = {
            "dag_id": dag_id,
            "from_date": from_date.isoformat(),
            "to_date": to_date.isoformat(),
            "dag_run_conf": conf or {},
            "max_active_runs": max_active_runs,
            "reprocess_behavior": reprocess_behavior,
        }
        return self.request("POST", "/api/v2/backfills", json=body)

    def backfill_dry_run(self, dag_id: str, from_date: dt.datetime, to_date: dt.datetime) -> list[dict]:
        body = {"dag_id": dag_id, "from_date": from_date.isoformat(), "to_date": to_date.isoformat()}
        return self.request("POST", "/api/v2/backfills/dry_run", json=body).get("backfills") or []

    def backfill(self, backfill_id: int) -> dict:
        return self.request("GET", f"/api/v2/backfills/{backfill_id}")

    def backfills(self, dag_id: str) -> list[dict]:
        return self._pages("/api/v2/backfills", "backfills", {"dag_id": dag_id})

    def close(self) -> None:
        self._client.close()
