"""The malformed-input corpus (tests/reliability/corpus.py), each case loaded for real.

Every case is a delivery generated from the sample extracts; it is loaded
with the real loader into its own copy of a prepared database, and must
end as its case says:

- loaded: exactly the rows expected, the others quarantined with file, row,
  column and a reason that says what is wrong; every row is accounted for
  (read = loaded + quarantined) and the raw table holds exactly the loaded
  rows: no valid row is lost;
- refused: nothing of the delivery loaded, the error naming the file (and
  the row and column where there is one) and what to do;
- skipped: left aside by discovery or the delivery check, saying why.

Nothing the loader wrote (raw, quarantine, manifest, messages, logs) holds
a resident ID in clear. The outcome of every case goes to the reliability
results (docs/reliability.md).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path

import psycopg
import pytest
from conftest import TEST_KEY, _create_database, _drop_database, resident_ids_in
from psycopg import sql

from govkpi import delivery
from govkpi.errors import GovkpiError
from govkpi.migrations import migrate
from ingestion.areas import AreaRegister
from ingestion.ddl import ensure_schema
from ingestion.loader import BatchRefused, discover, load_batch
from ingestion.pii import Pseudonymiser
from ingestion.specs import department
from reliability.corpus import CASES, Refused, Rows, Skipped

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

RESULTS = Path(os.environ.get("GOVKPI_RELIABILITY_OUT", Path(__file__).resolve().parents[2] / ".govkpi" / "reliability"))
DEPARTMENTS = ("hrss", "health")


@pytest.fixture(scope="module")
def template_db(pg_admin_url: str):
    """A database with the audit schema and every raw table: each case loads into a copy."""
    name = f"govkpi_corpus_{secrets.token_hex(4)}"
    url = _create_database(pg_admin_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        for code in DEPARTMENTS:
            ensure_schema(conn, department(code).extracts)
    yield name
    _drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def outcomes():
    found: dict[str, dict] = {}
    yield found
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "malformed_inputs.json").write_text(json.dumps(found, indent=2, ensure_ascii=False))


def test_the_corpus_has_at_least_forty_cases_of_every_kind():
    assert len(CASES) >= 40 and len({c.name for c in CASES}) == len(CASES)
    kinds = {c.kind for c in CASES}
    assert {"encoding", "header", "rows", "id", "date", "chars", "file", "amount", "delivery"} <= kinds


def _raw_count(conn: psycopg.Connection, code: str) -> int:
    return sum(
        conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier("raw", spec.name))).fetchone()[0]
        for spec in department(code).extracts
    )


def _everything_written(conn: psycopg.Connection, code: str) -> str:
    """Every row the loader wrote, as text: raw tables, quarantine, manifest and batch."""
    parts = []
    for table in [*(f"raw.{s.name}" for s in department(code).extracts), "audit.quarantine", "audit.load_manifest", "audit.load_batch"]:
        schema, name = table.split(".")
        parts += [r[0] for r in conn.execute(sql.SQL("select t::text from {} t").format(sql.Identifier(schema, name))).fetchall()]
    return "\n".join(parts)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_malformed_delivery_is_handled_as_its_case_says(case, template_db, pg_admin_url, tmp_path, caplog, outcomes):
    landing = tmp_path / "landing"
    landing.mkdir()
    case.build(landing)
    dept = department(case.department)
    name = f"govkpi_case_{secrets.token_hex(4)}"
    url = _create_database(pg_admin_url, name, template=template_db)
    caplog.set_level(logging.INFO)
    expect = case.expect
    outcome: dict = {"kind": case.kind, "expected": type(expect).__name__}
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            incomplete = delivery.incomplete_folders(landing, case.department)
            if isinstance(expect, Skipped) and incomplete:
                message = delivery.incomplete_message(incomplete[0])
                assert expect.words in message, message
                assert not delivery.delivered_periods(landing, case.department)
                assert _raw_count(conn, case.department) == 0 and not resident_ids_in(message)
                outcome.update(handled="skipped", message=message, rows_lost=0, clear_ids=0)
                return
            try:
                files = discover(landing, dept, delivery.delivered_periods(landing, case.department))
                result = load_batch(conn, dept, files, Pseudonymiser(TEST_KEY.encode()), areas=AreaRegister.from_landing(landing))
            except (BatchRefused, GovkpiError) as exc:
                assert isinstance(expect, Refused), f"{case.name} was refused: {exc}"
                message = str(exc)
                error = getattr(exc, "error", exc)
                assert expect.words in message, message
                assert "file " in message and (getattr(error, "file", "") or "") != ""
                if expect.row is not None:
                    assert (error.row, error.column) == (expect.row, expect.column), message
                assert getattr(error, "action", ""), "a refusal says what to do"
                assert _raw_count(conn, case.department) == 0, "nothing of a refused delivery is loaded"
                outcome.update(handled="refused", message=message, rows_lost=0)
                written = _everything_written(conn, case.department)
            else:
                assert not isinstance(expect, Refused), f"{case.name} loaded: {result.summary()}"
                written = _everything_written(conn, case.department)
                if isinstance(expect, Skipped):
                    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped ")]
                    assert any(expect.words in m for m in skipped), skipped
                    assert result.rows_rejected == 0 and result.rows_loaded > 0
                    outcome.update(handled="skipped", message=skipped[0], rows_read=result.rows_loaded, rows_lost=0)
                else:
                    assert isinstance(expect, Rows)
                    [file] = result.files
                    assert (file.rows_read, file.rows_loaded, file.rows_rejected) == (expect.read, expect.loaded, expect.read - expect.loaded), result.summary()
                    quarantined = conn.execute(
                        "select row_number, column_name, reason, file_name from audit.quarantine where file_id = %s order by 1, 2",
                        (file.file_id,),
                    ).fetchall()
                    rows = {r[0] for r in quarantined}
                    # every row read is loaded or quarantined, and raw holds exactly the loaded ones
                    assert len(rows) == file.rows_rejected
                    assert _raw_count(conn, case.department) == file.rows_loaded
                    for row, column, words in expect.quarantined:
                        assert any(r == row and c == column and words in reason for r, c, reason, _ in quarantined), quarantined
                    for row, column, reason, file_name in quarantined:
                        assert file_name == file.file_name and row > 0 and column and reason
                    outcome.update(
                        handled="loaded", rows_read=file.rows_read, rows_loaded=file.rows_loaded,
                        rows_quarantined=file.rows_rejected, rows_lost=file.rows_read - file.rows_loaded - len(rows),
                        message="; ".join(sorted({f"row {r}, column {c}: {reason}" for r, c, reason, _ in quarantined}))[:300],
                    )
            logs = "\n".join(r.getMessage() for r in caplog.records)
            clear = resident_ids_in(written) + resident_ids_in(logs) + resident_ids_in(outcome.get("message", ""))
            assert not clear, f"resident IDs in clear: {len(clear)}"
            outcome["clear_ids"] = 0
    finally:
        outcomes[case.name] = outcome
        _drop_database(pg_admin_url, name)
