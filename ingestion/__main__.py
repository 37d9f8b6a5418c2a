"""Command line for ingestion, without Airflow: `python -m ingestion load --department hrss`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import psycopg

from govkpi.settings import load_settings
from ingestion.errors import GovkpiError
from ingestion.loader import discover, load_batch
from ingestion.pii import Pseudonymiser
from ingestion.specs import DEPARTMENTS, department


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingestion", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="load a department's new files from the landing folder")
    load.add_argument("--department", required=True, choices=sorted(DEPARTMENTS))
    load.add_argument("--landing", type=Path, help="landing folder (default GOVKPI_LANDING_DIR)")
    load.add_argument("--period", action="append", help="only these period folders (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        dept = department(args.department)
        files = discover(args.landing or settings.landing_dir, dept, args.period)
        with psycopg.connect(settings.require_warehouse_url(), autocommit=True) as conn:
            outcome = load_batch(conn, dept, files, Pseudonymiser(settings.pseudonym_key()))
    except GovkpiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(outcome.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
