"""Suite for `dim_area` (one row per administrative area) in the audit build.

The KPIs are rolled up village → township → county along this hierarchy:
one county, every township in it, every village in a township. A second
county, a township hanging from nothing or a village hanging from a village
would split or lose figures at some level.
"""

from __future__ import annotations

import great_expectations as gx

from expectations.suites._checks import candidate, unexpected_rows

RELATION = candidate("dim_area")
READS = ()


def build_suite(candidate_schema: str) -> gx.ExpectationSuite:
    """One county; each township's parent is the county, each village's a township."""
    query = """
        select a.area_code, a.area_level, a.parent_area_code, parent.area_level as parent_level
        from {batch} as a
        left join {batch} as parent on parent.area_code = a.parent_area_code
        where (a.area_level = 'county' and a.parent_area_code is not null)
           or (a.area_level = 'township' and parent.area_level is distinct from 'county')
           or (a.area_level = 'village' and parent.area_level is distinct from 'township')
           or a.area_level not in ('county', 'township', 'village')
        union all
        select null, 'county', count(*)::text, null
        from {batch} as counties
        where counties.area_level = 'county'
        having count(*) <> 1
    """
    return gx.ExpectationSuite(
        name=RELATION.table,
        expectations=[
            unexpected_rows(
                check="contract: one county, townships in it, villages in townships",
                expected=(
                    "exactly one dim_area row with area_level 'county'; the parent of every township is "
                    "the county, the parent of every village a township"
                ),
                relation=RELATION.qualified(candidate_schema),
                query=query,
            )
        ],
    )
