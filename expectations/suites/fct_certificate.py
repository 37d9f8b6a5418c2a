"""Suite for `fct_certificate` (one row per certificate issued) in the audit build.

Reconciled row for row with the current certificate registers.
"""

from __future__ import annotations

import great_expectations as gx

from expectations.suites._checks import candidate
from expectations.suites._reconciliation import delivered_row_floor, reconciliation

RELATION = candidate("fct_certificate")
READS = ()


def build_suite(candidate_schema: str) -> gx.ExpectationSuite:
    """Reconciliation with `raw.hrss_certificate` and a row floor."""
    fact = RELATION.qualified(candidate_schema)
    return gx.ExpectationSuite(
        name=RELATION.table,
        expectations=[
            delivered_row_floor(RELATION.table, fact),
            *reconciliation(RELATION.table, fact),
        ],
    )
