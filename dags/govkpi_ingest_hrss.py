"""
### Ingest the HR&SS extracts

Loads the county human resources and social security bureau's training
extracts (class ledger, trainee roster, certificates, job follow-up) from the
landing folder `<GOVKPI_LANDING_DIR>/hrss/<period>/` into the warehouse's
`raw` schema, through the generic spec-driven loader in `ingestion/`
(specs: `ingestion/specs/hrss.py`).

- New files only: bytes already in `audit.load_manifest` are recognised and skipped.
- One batch per run, all or nothing: a file that must be refused refuses the
  batch, and the failure names the file, row and column.
- Rows that fail validation go to `audit.quarantine`; the rest are loaded.
- On success it updates the `govkpi_raw_hrss` Asset, which schedules the
  warehouse DAG.
"""

from __future__ import annotations

from airflow.sdk import DAG

from dag_support.ingest import build_ingest_dag

govkpi_ingest_hrss: DAG = build_ingest_dag("hrss", doc_md=__doc__)
