"""
### Ingest the county health alliance extracts

Loads the township health centre's extracts from the county health alliance
(县域医共体): the ward and bed register with its history, inpatient
admissions, county experts' ward rounds, remote exam readings (CT, ECG,
B-mode ultrasound) and temporary medical aid payments, from
`<GOVKPI_LANDING_DIR>/health/<period>/` into `raw`, through the generic
loader (specs: `ingestion/specs/health.py`).

Patients' and aid recipients' ID numbers are validated and pseudonymised
before anything is written. The aid report arrives as the county's XLSX form
with a two-row merged header and a totals row, which the reader handles.
On success it updates the `govkpi_raw_health` Asset.
"""

from __future__ import annotations

from airflow.sdk import DAG

from dag_support.ingest import build_ingest_dag

govkpi_ingest_health: DAG = build_ingest_dag("health", doc_md=__doc__)
