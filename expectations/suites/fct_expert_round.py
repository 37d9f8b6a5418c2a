"""Suite for `fct_expert_round` (one row per county expert's ward round) in the audit build.

Reconciled row for row with the current round records.
"""

from __future__ import annotations

import great_expectations as gx

from expectations.suites._checks import candidate
from expectations.suites._reconciliation import delivered_row_floor, reconciliation

RELATION = candidate("fct_expert_round")
READS = ()


def build_suite(candidate_schema: str) -> gx.ExpectationSuite:
    """Reconciliation with `raw.health_expert_round` and a row floor."""
    fact = RELATION.qualified(candidate_schema)
    return gx.ExpectationSuite(
        name=RELATION.table,
        expectations=[
            delivered_row_floor(RELATION.table, fact),
            *reconciliation(RELATION.table, fact),
        ],
    )
