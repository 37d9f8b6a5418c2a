"""The data-quality gate between the dbt audit build and publication.

Great Expectations suites, written as code, one module per checked relation
under `expectations.suites`. They own the data contract and distributions
(row counts against the load manifest, reconciliation totals, null rates,
ranges); dbt tests own keys, relationships and KPI formulas.

Run it with `expectations.gate.run_gate(...)` or `govkpi gate`.
Nothing here imports Airflow: the DAGs call this package, never the reverse.
This module stays light on purpose; Great Expectations is imported only by
`expectations.gate` and the suites.
"""

from govkpi import schemas

# The schema the dbt audit build (the write-audit-publish candidate) is written to.
DEFAULT_CANDIDATE_SCHEMA = schemas.CANDIDATE
