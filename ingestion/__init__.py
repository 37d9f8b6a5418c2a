"""Generic, spec-driven ingestion of departmental extracts into the warehouse's `raw` schema.

Nothing in this package imports Airflow: the DAGs call it, and every stage
also runs from the command line (`govkpi load --help`).
"""
