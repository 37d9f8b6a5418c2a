"""Suite for `fct_job_placement` (one row per trainee placed in a job) in the audit build.

Reconciled row for row with the current job follow-up ledgers, plus the
wage contract: the ledger's wage column is optional, but a ledger where most
wages are missing, or a wage outside any plausible monthly figure (yuan
typed as 10k-yuan, or an annual figure), makes the wage KPIs meaningless.
"""

from __future__ import annotations

import great_expectations as gx

from expectations.suites._checks import candidate, named
from expectations.suites._reconciliation import delivered_row_floor, reconciliation

RELATION = candidate("fct_job_placement")
READS = ()

# Well below any county minimum wage (part-time work included) and well
# above any wage a skills-training placement in the county pays.
MIN_MONTHLY_WAGE_YUAN = 500
MAX_MONTHLY_WAGE_YUAN = 50_000
# Share of placements that must report a wage for wage KPIs to be published.
MIN_WAGE_REPORTED_SHARE = 0.5


def build_suite(candidate_schema: str) -> gx.ExpectationSuite:
    """Reconciliation with `raw.hrss_placement`, a row floor, wage range and wage null share."""
    fact = RELATION.qualified(candidate_schema)
    return gx.ExpectationSuite(
        name=RELATION.table,
        expectations=[
            delivered_row_floor(RELATION.table, fact),
            *reconciliation(RELATION.table, fact),
            named(
                gx.expectations.ExpectColumnValuesToBeBetween,
                check="contract: monthly wage range",
                expected=(
                    f"monthly_wage_yuan between {MIN_MONTHLY_WAGE_YUAN} and "
                    f"{MAX_MONTHLY_WAGE_YUAN} wherever it is reported"
                ),
                relation=fact,
                column="monthly_wage_yuan",
                min_value=MIN_MONTHLY_WAGE_YUAN,
                max_value=MAX_MONTHLY_WAGE_YUAN,
            ),
            named(
                gx.expectations.ExpectColumnValuesToNotBeNull,
                check="contract: monthly wage reported",
                expected=(
                    f"monthly_wage_yuan missing on at most {1 - MIN_WAGE_REPORTED_SHARE:.0%} of placements"
                ),
                relation=fact,
                column="monthly_wage_yuan",
                mostly=MIN_WAGE_REPORTED_SHARE,
            ),
        ],
    )
