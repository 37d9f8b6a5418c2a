"""Suite for `dim_training_class` (one row per training class) in the audit build.

Reconciled with the current class ledgers: one row per distinct class_id.
"""

from __future__ import annotations

import great_expectations as gx

from expectations.suites._checks import candidate
from expectations.suites._reconciliation import reconciliation

RELATION = candidate("dim_training_class")
READS = ()


def build_suite(candidate_schema: str) -> gx.ExpectationSuite:
    """Reconciliation with `raw.hrss_training_class`."""
    return gx.ExpectationSuite(
        name=RELATION.table,
        expectations=reconciliation(RELATION.table, RELATION.qualified(candidate_schema)),
    )
