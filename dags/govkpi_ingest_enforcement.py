"""
### Ingest the administrative enforcement brigade's extracts

Loads the township's comprehensive administrative enforcement brigade
(综合行政执法大队) extracts: the roster with each officer's squad assignments
over time, and the case register (domain, squad, village, dates, outcome,
penalty, assistance by the justice office or police), from
`<GOVKPI_LANDING_DIR>/enforcement/<period>/` into `raw`, through the generic
loader (specs: `ingestion/specs/enforcement.py`).

Businesses' Unified Social Credit Codes are validated with stdnum's
`cn.uscc`; individuals' ID numbers are pseudonymised. On success it updates
the `govkpi_raw_enforcement` Asset.
"""

from __future__ import annotations

from airflow.sdk import DAG

from dag_support.ingest import build_ingest_dag

govkpi_ingest_enforcement: DAG = build_ingest_dag("enforcement", doc_md=__doc__)
