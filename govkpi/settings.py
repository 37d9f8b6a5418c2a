"""govkpi's settings: read from the environment once, typed, checked at start-up.

| variable | meaning | default |
| --- | --- | --- |
| `GOVKPI_WAREHOUSE_URL` | PostgreSQL 15+ URL of the warehouse | the embedded server under the state folder |
| `GOVKPI_PSEUDONYM_KEY` | key (at least 32 bytes) for pseudonymising ID numbers | none: loading refuses to start |
| `GOVKPI_STATE_DIR` | local state: embedded database, Airflow metadata, logs | `<project>/.govkpi` |
| `GOVKPI_LANDING_DIR` | landing folder, `<department>/<period>/<files>` | `<project>/sample_data` |
| `GOVKPI_DBT_PROJECT_DIR` | the dbt project to build (a county's own copy, with its own KPIs) | `<project>/dbt_project` |
| `GOVKPI_ALERT_DIR` | where `alerts.jsonl` is written | `<state dir>/alerts` |
| `GOVKPI_DELIVERY_POLL_SECONDS` | how often a waiting ingest run looks for a delivery's `_DELIVERED` marker | 300 |
| `GOVKPI_DELIVERY_DEADLINE_HOURS` | hours after a month ends before a missing delivery fails its run | 120 |
| `GOVKPI_WAREHOUSE_DEADLINE_MINUTES` | minutes a warehouse run may take from being queued before it alerts (0: never) | 120 |

This module is the only one that reads `GOVKPI_` variables
(tests/unit/test_settings.py checks it); everything else takes a `Settings`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from govkpi.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIN_KEY_BYTES = 32

# The Airflow pool of every task that writes to the warehouse (loads, dbt,
# the gate, publish): at most this many write at once, however many workers
# run. Created by the deployment's init service, `govkpi run` and
# scripts/distributed; the DAGs use it through dags/dag_support.
WAREHOUSE_POOL = "govkpi_warehouse"
WAREHOUSE_POOL_SLOTS = 2
WAREHOUSE_POOL_DESCRIPTION = "govkpi: tasks writing to the warehouse database"


DEFAULT_DELIVERY_POLL_SECONDS = 300.0
# How long after its interval ends a month's delivery may still arrive
# before the run fails: departments send last month's extracts in the
# first days of the month.
DEFAULT_DELIVERY_DEADLINE_HOURS = 120.0
DEFAULT_WAREHOUSE_DEADLINE_MINUTES = 120.0


@dataclass(frozen=True)
class Settings:
    """The environment, parsed. Secrets are held but never shown by repr."""

    project_root: Path
    state_dir: Path
    landing_dir: Path
    warehouse_url: str | None
    _pseudonym_key: bytes | None
    alert_dir: Path = None  # type: ignore[assignment]  # None: <state_dir>/alerts, set below
    delivery_poll_seconds: float = DEFAULT_DELIVERY_POLL_SECONDS
    delivery_deadline_hours: float = DEFAULT_DELIVERY_DEADLINE_HOURS
    warehouse_deadline_minutes: float = DEFAULT_WAREHOUSE_DEADLINE_MINUTES
    dbt_project_override: Path | None = None

    def __post_init__(self) -> None:
        if self.alert_dir is None:
            object.__setattr__(self, "alert_dir", self.state_dir / "alerts")

    def __repr__(self) -> str:
        url = redact_url(self.warehouse_url) if self.warehouse_url else "<embedded>"
        key = "<set>" if self._pseudonym_key else "<unset>"
        return (
            f"Settings(project_root={self.project_root}, state_dir={self.state_dir}, "
            f"landing_dir={self.landing_dir}, warehouse_url={url}, pseudonym_key={key}, alert_dir={self.alert_dir}, "
            f"delivery_poll_seconds={self.delivery_poll_seconds}, delivery_deadline_hours={self.delivery_deadline_hours}, "
            f"warehouse_deadline_minutes={self.warehouse_deadline_minutes}, dbt_project_dir={self.dbt_project_dir})"
        )

    @property
    def dbt_project_dir(self) -> Path:
        return self.dbt_project_override or self.project_root / "dbt_project"

    @property
    def dags_dir(self) -> Path:
        return self.project_root / "dags"

    @property
    def has_pseudonym_key(self) -> bool:
        return self._pseudonym_key is not None

    def pseudonym_key(self) -> bytes:
        """The pseudonymisation key; loading cannot run without it."""
        if self._pseudonym_key is None:
            raise SettingsError(
                "GOVKPI_PSEUDONYM_KEY is not set: ID numbers cannot be pseudonymised without it. "
                "Set it to a secret of at least 32 characters (for example the output of "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`) and keep it: "
                "a different key gives everyone new pseudonyms."
            )
        return self._pseudonym_key

    def require_warehouse_url(self) -> str:
        if not self.warehouse_url:
            raise SettingsError(
                "GOVKPI_WAREHOUSE_URL is not set. Set it to a PostgreSQL URL, or run through "
                "`govkpi run`, which starts the embedded warehouse and sets it."
            )
        return self.warehouse_url


def load_settings(environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
    """Read and check the settings; a malformed value fails naming its variable."""
    env = os.environ if environ is None else environ
    state_dir = Path(env.get("GOVKPI_STATE_DIR") or PROJECT_ROOT / ".govkpi").resolve()
    landing_dir = Path(env.get("GOVKPI_LANDING_DIR") or PROJECT_ROOT / "sample_data").resolve()
    url = env.get("GOVKPI_WAREHOUSE_URL") or None
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        raise SettingsError(
            "GOVKPI_WAREHOUSE_URL must be a PostgreSQL URL such as "
            "postgresql://user:password@host:5432/dbname (got a value starting "
            f"{url.split(':', 1)[0]!r})"
        )
    raw_key = env.get("GOVKPI_PSEUDONYM_KEY")
    key: bytes | None = None
    if raw_key:
        key = raw_key.encode("utf-8")
        if len(key) < MIN_KEY_BYTES:
            raise SettingsError(
                f"GOVKPI_PSEUDONYM_KEY is {len(key)} bytes long; it must be at least {MIN_KEY_BYTES}."
            )
    return Settings(
        PROJECT_ROOT,
        state_dir,
        landing_dir,
        url,
        key,
        alert_dir=Path(env.get("GOVKPI_ALERT_DIR") or state_dir / "alerts").resolve(),
        delivery_poll_seconds=_duration(env, "GOVKPI_DELIVERY_POLL_SECONDS", DEFAULT_DELIVERY_POLL_SECONDS, "seconds"),
        delivery_deadline_hours=_duration(env, "GOVKPI_DELIVERY_DEADLINE_HOURS", DEFAULT_DELIVERY_DEADLINE_HOURS, "hours"),
        warehouse_deadline_minutes=_duration(env, "GOVKPI_WAREHOUSE_DEADLINE_MINUTES", DEFAULT_WAREHOUSE_DEADLINE_MINUTES, "minutes"),
        dbt_project_override=_dbt_project(env),
    )


def _dbt_project(env) -> Path | None:
    value = env.get("GOVKPI_DBT_PROJECT_DIR")
    if not value:
        return None
    path = Path(value).resolve()
    if not (path / "dbt_project.yml").is_file():
        raise SettingsError(f"GOVKPI_DBT_PROJECT_DIR is {value}, which holds no dbt_project.yml: point it at a dbt project folder")
    return path


def redact_url(url: str) -> str:
    """A URL safe to log: the password replaced."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _duration(env: os._Environ[str] | dict[str, str], name: str, default: float, unit: str) -> float:
    """A non-negative number of `unit`s from variable `name` (unset or empty: `default`).

    A bad value raises SettingsError (a ValueError) naming the variable, so a
    DAG that reads it at parse time shows the mistake as its import error.
    """
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of {unit}, not {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative, got {raw!r}")
    return value
