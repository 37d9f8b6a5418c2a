"""Suite for `dim_area` (one row per administrative area) in the audit build.

Every township-level KPI is published for exactly one township; a second
township row (or none) means the area seed or its join is wrong and every
township figure would be split or lost.
"""

from __future__ import annotations

import great_expectations as gx

from expectations.suites._checks import candidate, unexpected_rows

RELATION = candidate("dim_area")
READS = ()


def build_suite(candidate_schema: str) -> gx.ExpectationSuite:
    """Exactly one township row."""
    query = """
        select count(*) as township_rows
        from {batch}
        where area_level = 'township'
        having count(*) <> 1
    """
    return gx.ExpectationSuite(
        name=RELATION.table,
        expectations=[
            unexpected_rows(
                check="contract: exactly one township",
                expected="exactly one dim_area row with area_level 'township'",
                relation=RELATION.qualified(candidate_schema),
                query=query,
            )
        ],
    )
