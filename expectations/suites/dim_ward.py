"""Suite for `dim_ward` (one row per ward version) in the audit build.

Reconciled row for row with the current ward registers: each register row
is one version. A ward of a township health centre holds 1 to 20 open beds;
a count outside that is a typing error (or a department's total typed on a
ward's row) that would inflate the open-beds and occupancy KPIs.
"""

from __future__ import annotations

import great_expectations as gx

from expectations.suites._checks import candidate, named
from expectations.suites._reconciliation import reconciliation

RELATION = candidate("dim_ward")
READS = ()

MIN_OPEN_BEDS = 1
MAX_OPEN_BEDS = 20


def build_suite(candidate_schema: str) -> gx.ExpectationSuite:
    """Reconciliation with `raw.health_ward` and the open-bed range."""
    dimension = RELATION.qualified(candidate_schema)
    return gx.ExpectationSuite(
        name=RELATION.table,
        expectations=[
            *reconciliation(RELATION.table, dimension),
            named(
                gx.expectations.ExpectColumnValuesToBeBetween,
                check="contract: ward open beds range",
                expected=f"open_bed_count between {MIN_OPEN_BEDS} and {MAX_OPEN_BEDS} on every ward version",
                relation=dimension,
                column="open_bed_count",
                min_value=MIN_OPEN_BEDS,
                max_value=MAX_OPEN_BEDS,
            ),
        ],
    )
