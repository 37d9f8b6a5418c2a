"""Prepare the govkpi warehouse for a deployment: the one-shot step of `airflow-init`.

Reads the same settings the tasks read (GOVKPI_WAREHOUSE_URL,
GOVKPI_PSEUDONYM_KEY, ...) and fails, naming the variable, if one is wrong,
so a deployment with a bad key stops at start-up rather than at its first
load. Then, as the warehouse's application role (not a superuser):

- creates the `audit` tables and one `raw` table per extract spec, so the
  warehouse DAG can build before every department has delivered;
- creates the group roles `govkpi_bi` and `govkpi_auditor` (each publication grants them what they read).

Idempotent: running it again changes nothing.
"""

from __future__ import annotations

import logging
import sys

import psycopg

from govkpi.errors import GovkpiError
from govkpi.settings import load_settings, redact_url
from govkpi.warehouse import AUDITOR_ROLE, BI_ROLE, ensure_roles
from ingestion.ddl import ensure_schema
from ingestion.specs import all_extracts

log = logging.getLogger("govkpi.prepare_warehouse")


def prepare() -> None:
    settings = load_settings()
    settings.pseudonym_key()  # required by every load: refuse to start without it
    url = settings.require_warehouse_url()
    with psycopg.connect(url, autocommit=True) as conn:
        ensure_schema(conn, all_extracts())
        ensure_roles(conn)
    log.info("warehouse %s ready: raw and audit tables, group roles %s and %s", redact_url(url), BI_ROLE, AUDITOR_ROLE)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        prepare()
    except GovkpiError as exc:
        log.error("%s", exc)
        return 1
    except psycopg.OperationalError as exc:
        # A wrong password or host in .env: say so, without a traceback.
        log.error("cannot connect to the warehouse named by GOVKPI_WAREHOUSE_URL: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
