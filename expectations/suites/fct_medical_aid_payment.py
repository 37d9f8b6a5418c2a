"""Suite for `fct_medical_aid_payment` (one row per temporary medical aid payment) in the audit build.

Reconciled row for row with the current aid forms, and in money: the total
paid must equal the forms' total, so a payment lost or doubled (or the
form's 合计 row loaded as a payment) fails even where row counts would
balance. Amounts outside 1 to 100,000 yuan are typing errors (a payment in
ten-thousands of yuan, or a household ID typed into the amount column).
"""

from __future__ import annotations

import great_expectations as gx

from expectations.suites._checks import candidate, named
from expectations.suites._reconciliation import delivered_row_floor, reconciliation

RELATION = candidate("fct_medical_aid_payment")
READS = ()

MIN_AMOUNT_YUAN = 1
MAX_AMOUNT_YUAN = 100_000


def build_suite(candidate_schema: str) -> gx.ExpectationSuite:
    """Reconciliation with `raw.health_medical_aid` (rows and amount total), a row floor and the amount range."""
    fact = RELATION.qualified(candidate_schema)
    return gx.ExpectationSuite(
        name=RELATION.table,
        expectations=[
            delivered_row_floor(RELATION.table, fact),
            *reconciliation(RELATION.table, fact),
            named(
                gx.expectations.ExpectColumnValuesToBeBetween,
                check="contract: aid amount range",
                expected=f"amount_yuan between {MIN_AMOUNT_YUAN} and {MAX_AMOUNT_YUAN:,}",
                relation=fact,
                column="amount_yuan",
                min_value=MIN_AMOUNT_YUAN,
                max_value=MAX_AMOUNT_YUAN,
            ),
        ],
    )
