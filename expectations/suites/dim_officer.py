"""Suite for `dim_officer` (one row per officer per squad assignment) in the audit build.

Reconciled row for row with the current brigade rosters: each roster row is
one version of an officer.
"""

from __future__ import annotations

import great_expectations as gx

from expectations.suites._checks import candidate
from expectations.suites._reconciliation import reconciliation

RELATION = candidate("dim_officer")
READS = ()


def build_suite(candidate_schema: str) -> gx.ExpectationSuite:
    """Reconciliation with `raw.enf_officer_assignment`."""
    return gx.ExpectationSuite(
        name=RELATION.table,
        expectations=reconciliation(RELATION.table, RELATION.qualified(candidate_schema)),
    )
