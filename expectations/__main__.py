"""Command line for the gate: `python -m expectations --warehouse-url URL [--schema marts_audit]`.

Validates the dbt audit build, stores the outcome in `audit.validation_run`
and `audit.validation_result`, prints a summary and exits 0 when every check
passed, 1 when any failed, 2 when the gate could not run (bad URL,
unreachable server, audit build missing).
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import sys

from expectations import DEFAULT_CANDIDATE_SCHEMA
from expectations.errors import GateError

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_CANNOT_RUN = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m expectations",
        description="Validate the dbt audit build of the govkpi marts before publication.",
    )
    parser.add_argument(
        "--warehouse-url",
        required=True,
        help="PostgreSQL URL, e.g. postgresql://user@host:5432/govkpi or postgresql://user@/govkpi?host=/socket/dir",
    )
    parser.add_argument(
        "--schema",
        default=DEFAULT_CANDIDATE_SCHEMA,
        help=f"schema of the dbt audit build to validate (default: {DEFAULT_CANDIDATE_SCHEMA})",
    )
    parser.add_argument("--run-label", default="", help="label stored with the validation run, e.g. a DAG run id")
    parser.add_argument(
        "--results-dir",
        type=pathlib.Path,
        help="also write each suite's full Great Expectations result as JSON into this directory",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages, only the summary")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        # Quiet still shows errors; failed checks are in the summary either way.
        level=logging.ERROR if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Imported here so `--help` answers without loading Great Expectations.
    from expectations.gate import FAILURE_LOGGER, run_gate

    # GX's own INFO messages are about its internals, not about the data. Set
    # after the import: GX pins one of its module loggers to INFO when loaded.
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Failed checks are printed in the summary below; logging them as well would say it all twice.
    logging.getLogger(FAILURE_LOGGER).setLevel(logging.ERROR)

    try:
        result = run_gate(
            args.warehouse_url,
            candidate_schema=args.schema,
            run_label=args.run_label,
            results_dir=args.results_dir,
        )
    except GateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN

    passed = result.checks_run - len(result.failures)
    if result.success:
        print(f"PASSED: all {result.checks_run} checks of schema {args.schema} passed (validation run {result.validation_run_id}).")
        return EXIT_PASSED
    print(
        f"FAILED: {len(result.failures)} of {result.checks_run} checks of schema {args.schema} failed, "
        f"{passed} passed (validation run {result.validation_run_id}). Do not publish this build."
    )
    for number, failure in enumerate(result.failures, start=1):
        print(f"\n{number}. {failure.check}")
        print(f"   suite:    {failure.suite}")
        print(f"   relation: {failure.relation}")
        print(f"   {failure.message}")
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
