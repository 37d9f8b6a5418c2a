"""The gate's expectation suites, one module per checked relation.

Each module exposes `RELATION` (the table its suite validates; `schema=None`
means the candidate audit-build schema), `READS` (other relations its checks
join to, so the gate can say up front what is missing) and
`build_suite(candidate_schema) -> gx.ExpectationSuite`. A suite is named
after its relation's table, so names stay stable whatever schema the audit
build is written to.

Adding a relation to the gate is adding a module and listing it below.
"""

from __future__ import annotations

from types import ModuleType

from expectations.suites import (
    dim_area,
    dim_training_class,
    fct_certificate,
    fct_job_placement,
    fct_kpi_value,
    fct_training_enrolment,
    load_manifest,
)

# Upstream first, so a failure report reads from the cause to its effects.
SUITE_MODULES: tuple[ModuleType, ...] = (
    load_manifest,
    dim_training_class,
    fct_training_enrolment,
    fct_certificate,
    fct_job_placement,
    dim_area,
    fct_kpi_value,
)
