"""No resident ID in clear anywhere the pipeline writes (issue 14).

After the session's real `govkpi run` of the samples (whose extracts hold
590 synthetic resident IDs in clear), every row of every table of the
warehouse (raw, staging, marts, audit with its quarantine, the candidates),
and every file of the state folder (Airflow's metadata database with its
XComs, task logs, OpenLineage events, dbt's artifacts and logs, Great
Expectations' results and Data Docs, the publications' documentation) is
searched for valid 18-character IDs standing alone. The count of what was
searched goes to the reliability results.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg
import pytest
from conftest import ROOT, SAMPLE_DIR, resident_ids_in
from psycopg import sql

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

RESULTS = Path(os.environ.get("GOVKPI_RELIABILITY_OUT", ROOT / ".govkpi" / "reliability"))


def test_no_resident_id_in_clear_in_any_table_log_xcom_event_artifact_or_document(sample_publication, state_dir):
    # the samples do hold IDs in clear: the scan can find them
    delivered = set()
    for path in SAMPLE_DIR.rglob("*.csv"):
        data = path.read_bytes()
        delivered |= set(resident_ids_in(data.decode("gb18030" if not data.startswith(b"\xef\xbb\xbf") else "utf-8-sig", errors="ignore")))
    assert len(delivered) > 500

    found: dict[str, int] = {}
    tables = rows = 0
    with psycopg.connect(sample_publication.url) as conn:
        for schema, table in conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema not in ('pg_catalog', 'information_schema') and table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall():
            tables += 1
            for (text,) in conn.execute(sql.SQL("select t::text from {} t").format(sql.Identifier(schema, table))):
                rows += 1
                hits = resident_ids_in(text)
                if hits:
                    found[f"{schema}.{table}"] = found.get(f"{schema}.{table}", 0) + len(hits)
    files = size = 0
    for path in state_dir.rglob("*"):
        if not path.is_file() or path.is_symlink() or "pgdata" in path.parts:
            continue
        files += 1
        data = path.read_bytes()
        size += len(data)
        hits = resident_ids_in(data.decode("utf-8", errors="ignore"))
        if hits:
            found[str(path.relative_to(state_dir))] = len(hits)
    kinds = {p.relative_to(state_dir).parts[0] for p in state_dir.rglob("*") if p.is_file()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "clear_id_scan.json").write_text(json.dumps(
        {"tables": tables, "rows": rows, "files": files, "bytes": size, "state_folders": sorted(kinds),
         "clear_ids_found": sum(found.values()), "where": found}, indent=2, ensure_ascii=False))
    assert tables > 50 and rows > 10_000 and files > 20, (tables, rows, files)
    # what the scan covered: Airflow's database (XComs), logs, OpenLineage events, dbt's artifacts, docs
    assert {"airflow", "openlineage", "dbt", "publications"} <= kinds, kinds
    assert not found, found
