"""govkpi's settings: read from the environment once, typed, checked at start-up.

| variable | meaning | default |
| --- | --- | --- |
| `GOVKPI_WAREHOUSE_URL` | PostgreSQL 15+ URL of the warehouse | the embedded server under the state folder |
| `GOVKPI_PSEUDONYM_KEY` | key (at least 32 bytes) for pseudonymising ID numbers | none: loading refuses to start |
| `GOVKPI_STATE_DIR` | local state: embedded database, Airflow metadata, logs | `<project>/.govkpi` |
| `GOVKPI_LANDING_DIR` | landing folder, `<department>/<period>/<files>` | `<project>/ingestion/sample_data` |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ingestion.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIN_KEY_BYTES = 32

# The Airflow pool of every task that writes to the warehouse (loads, dbt,
# the gate, publish): at most this many write at once, however many workers
# run. Created by the deployment's init service, `govkpi run` and
# scripts/distributed; the DAGs use it through dags/dag_support.
WAREHOUSE_POOL = "govkpi_warehouse"
WAREHOUSE_POOL_SLOTS = 2
WAREHOUSE_POOL_DESCRIPTION = "govkpi: tasks writing to the warehouse database"


@dataclass(frozen=True)
class Settings:
    """The environment, parsed. Secrets are held but never shown by repr."""

    project_root: Path
    state_dir: Path
    landing_dir: Path
    warehouse_url: str | None
    _pseudonym_key: bytes | None

    def __repr__(self) -> str:
        url = redact_url(self.warehouse_url) if self.warehouse_url else "<embedded>"
        key = "<set>" if self._pseudonym_key else "<unset>"
        return (
            f"Settings(project_root={self.project_root}, state_dir={self.state_dir}, "
            f"landing_dir={self.landing_dir}, warehouse_url={url}, pseudonym_key={key})"
        )

    @property
    def dbt_project_dir(self) -> Path:
        return self.project_root / "dbt_project"

    @property
    def dags_dir(self) -> Path:
        return self.project_root / "dags"

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
    landing_dir = Path(env.get("GOVKPI_LANDING_DIR") or PROJECT_ROOT / "ingestion" / "sample_data").resolve()
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
    return Settings(PROJECT_ROOT, state_dir, landing_dir, url, key)


def redact_url(url: str) -> str:
    """A URL safe to log: the password replaced."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def env_duration(name: str, default: float, unit: str) -> float:
    """A non-negative number of `unit`s from environment variable `name` (unset or empty: `default`).

    Raises ValueError naming the variable, so a DAG that reads it at parse
    time shows the mistake as its import error.
    """
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of {unit}, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {raw!r}")
    return value
