"""Suite for `dim_kpi` (one row per published KPI) in the audit build.

The KPI seed names the department whose extracts feed each KPI. The gate
requires a KPI to be published only once its department has delivered
(see `fct_kpi_value`), matching the seed's department with the manifest's;
a department the loader does not know would silently never be required.
The list of departments comes from the same specs the loader uses.
"""

from __future__ import annotations

import great_expectations as gx

from expectations.suites._checks import candidate, sql_literal, unexpected_rows
from ingestion.specs import DEPARTMENTS

RELATION = candidate("dim_kpi")
READS = ()


def build_suite(candidate_schema: str) -> gx.ExpectationSuite:
    """Every KPI's department is a department the loader knows."""
    dimension = RELATION.qualified(candidate_schema)
    known = sorted(DEPARTMENTS)
    query = f"""
        select kpi_code, department
        from {{batch}}
        where department is null or department not in ({", ".join(sql_literal(code) for code in known)})
        order by kpi_code
    """
    return gx.ExpectationSuite(
        name=RELATION.table,
        expectations=[
            unexpected_rows(
                check="contract: KPI departments are known",
                expected=f"department one of the loader's departments ({', '.join(known)}) on every KPI",
                relation=dimension,
                query=query,
            ),
        ],
    )
