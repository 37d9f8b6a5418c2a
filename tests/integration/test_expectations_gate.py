"""The data-quality gate against a real PostgreSQL: a clean audit build passes, broken ones fail.

The module gets its own fresh database from conftest's `fresh_db` (on the
server named by GOVKPI_TEST_WAREHOUSE_URL, else the embedded one), dropped at
the end. Every test starts from the same small, consistent warehouse: the
loader's tables built by `ingestion.ddl`, a few files in the manifest (one
superseded, one refused) with their raw rows, and an audit build of the marts
that matches them. Only HR & SS has delivered: the health alliance's and the
enforcement brigade's marts exist but are empty, which the gate must accept
(`test_expectations_departments` fills them). A test then breaks one thing
the way a real pipeline fault would and checks that the gate names it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from conftest import run_govkpi

from expectations.errors import GateError
from expectations.gate import GateResult, run_gate, to_sqlalchemy_url
from ingestion.ddl import ensure_schema
from ingestion.specs import all_extracts

pytestmark = pytest.mark.integration

CANDIDATE = "marts_audit"


@pytest.fixture(scope="module")
def warehouse_url(fresh_db: str) -> str:
    """This module's own database (conftest: GOVKPI_TEST_WAREHOUSE_URL or the embedded server)."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        ensure_schema(conn, all_extracts())
    return fresh_db


@pytest.fixture
def conn(warehouse_url: str) -> Iterator[psycopg.Connection]:
    """A connection to a warehouse freshly filled with the consistent example data."""
    with psycopg.connect(warehouse_url, autocommit=True) as connection:
        load_example_warehouse(connection, CANDIDATE)
        yield connection


# --- the example warehouse -------------------------------------------------

ENROLMENT_ROWS = [  # person_key, person_id, birth_year, village, class_id, enrolled_date, has_completed
    (1, "p1", 1980, "V01", "C001", date(2024, 3, 1), True),
    (2, "p2", 1990, "V01", "C001", date(2024, 3, 1), True),
    (3, "p3", 1975, "V02", "C002", date(2024, 3, 5), False),
    (4, "p4", 2000, "V02", "C002", date(2024, 3, 5), True),
]


def add_file(conn: psycopg.Connection, batch_id: int, extract: str, rows_loaded: int, **overrides: object) -> int:
    """Record one file of `extract` in the manifest (loaded and current unless overridden); return its id."""
    values = {
        "department": next(spec.department for spec in all_extracts() if spec.name == extract),
        "period": "2024-03",
        "status": "loaded",
        "rows_rejected": 0,
        "sha256": uuid.uuid4().hex,
        "file_name": f"{extract}.xlsx",
    } | overrides
    row = conn.execute(
        """
        insert into audit.load_manifest (
            batch_id, department, extract_name, period, file_name, file_path, sha256, size_bytes,
            received_at, rows_read, rows_loaded, rows_rejected, status
        )
        values (%(batch_id)s, %(department)s, %(extract)s, %(period)s, %(file_name)s, '/inbox/' || %(file_name)s,
                %(sha256)s, 1000, now(), %(rows_read)s, %(rows_loaded)s, %(rows_rejected)s, %(status)s)
        returning file_id
        """,
        {
            "batch_id": batch_id,
            "extract": extract,
            "rows_loaded": rows_loaded,
            "rows_read": rows_loaded + int(values["rows_rejected"]),  # type: ignore[call-overload]
            **values,
        },
    ).fetchone()
    assert row is not None
    return int(row[0])


def load_example_warehouse(conn: psycopg.Connection, schema: str) -> None:
    """Replace the loader tables' contents and the audit build in `schema` with consistent data."""
    with conn.transaction():
        raw_tables = ", ".join(f"raw.{spec.table}" for spec in all_extracts())
        conn.execute(
            f"truncate {raw_tables}, audit.quarantine, audit.load_manifest, audit.load_batch restart identity cascade"
        )
        batch = conn.execute(
            "insert into audit.load_batch (department, period, status) values ('hrss', '2024-03', 'loaded') "
            "returning batch_id"
        ).fetchone()
        assert batch is not None
        batch_id = int(batch[0])

        classes = add_file(conn, batch_id, "hrss_training_class", 2)
        # An earlier roster, replaced by a corrected one: its raw rows stay but are not current.
        old_roster = add_file(conn, batch_id, "hrss_enrolment", 3, file_name="roster_v1.xlsx")
        roster = add_file(conn, batch_id, "hrss_enrolment", 4, file_name="roster_v2.xlsx")
        conn.execute("update audit.load_manifest set superseded_by_file_id = %s where file_id = %s", (roster, old_roster))
        # A refused roster: nothing loaded.
        add_file(conn, batch_id, "hrss_enrolment", 0, status="refused", rows_rejected=9, file_name="roster_bad.xlsx")
        certificates = add_file(conn, batch_id, "hrss_certificate", 2)
        placements = add_file(conn, batch_id, "hrss_placement", 3)

        conn.cursor().executemany(
            "insert into raw.hrss_training_class values ('township', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                ("C001", "电工培训班", "电工", date(2024, 3, 1), date(2024, 3, 20), "V01", "县职校", 80, 30,
                 batch_id, classes, 1),
                ("C002", "育婴员培训班", "育婴员", date(2024, 3, 5), date(2024, 3, 25), "V02", None, 60, None,
                 batch_id, classes, 2),
            ],
        )
        enrolment_insert = "insert into raw.hrss_enrolment values ('township', %s, %s, 'female', %s, %s, %s, %s, %s, %s, %s)"
        conn.cursor().executemany(
            enrolment_insert,
            [(pid, birth, village, cls, day, done, batch_id, old_roster, n)
             for n, (_, pid, birth, village, cls, day, done) in enumerate(ENROLMENT_ROWS[:3], start=1)]
            + [(pid, birth, village, cls, day, done, batch_id, roster, n)
               for n, (_, pid, birth, village, cls, day, done) in enumerate(ENROLMENT_ROWS, start=1)],
        )
        conn.cursor().executemany(
            "insert into raw.hrss_certificate values ('township', %s, %s, %s, 'female', %s, %s, %s, %s, %s, %s)",
            [
                ("Z1", "p1", 1980, "C001", "初级", date(2024, 3, 28), batch_id, certificates, 1),
                ("Z2", "p3", 1975, "C002", None, date(2024, 3, 28), batch_id, certificates, 2),
            ],
        )
        conn.cursor().executemany(
            "insert into raw.hrss_placement values ('township', %s, %s, 'female', %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                ("p1", 1980, "C001", "县电力公司", "企业", date(2024, 4, 1), "全职", 4200, batch_id, placements, 1),
                ("p2", 1990, "C001", "某某电器店", "个体", date(2024, 4, 3), None, None, batch_id, placements, 2),
                ("p4", 2000, "C002", "县家政公司", "企业", date(2024, 4, 9), "全职", 3500, batch_id, placements, 3),
            ],
        )
        _build_marts(conn, schema, roster=roster, certificates=certificates, placements=placements)


# The health alliance's and the enforcement brigade's marts, shaped like the
# dbt models (columns the gate reads, lineage columns included). Empty here:
# neither department has delivered in this example; tests that need their
# rows fill them. dim_squad comes from a seed, so it has rows either way.
DEPARTMENT_MARTS_DDL = """
    create table {s}.dim_squad (squad_key text, squad_code text, name_zh text, name_en text);
    insert into {s}.dim_squad values
        ('sq1', 'land', '国土中队', 'Land squad'),
        ('sq2', 'village_construction_agriculture', '村建农业中队', 'Village construction and agriculture squad'),
        ('sq3', 'environment_emergency', '环保应急中队', 'Environment and emergency squad');
    create table {s}.dim_ward (ward_version_key text, ward_id text, site_code text, site_name_zh text,
        care_department_key text, open_bed_count integer, valid_from date, valid_to date, is_current boolean,
        batch_id bigint, source_file_id bigint, source_row_number integer);
    create table {s}.fct_inpatient_stay (stay_key text, admission_id text, person_key text, area_key integer,
        care_department_key text, admitted_date date, discharged_date date, length_of_stay_days integer,
        batch_id bigint, source_file_id bigint, source_row_number integer);
    create table {s}.fct_expert_round (expert_round_key text, round_id text, round_date date,
        care_department_key text, expert_department_name_zh text, patients_seen_count integer,
        batch_id bigint, source_file_id bigint, source_row_number integer);
    create table {s}.fct_remote_reading (remote_reading_key text, request_id text, person_key text,
        area_key integer, exam_type_key text, requested_at timestamptz, reported_at timestamptz,
        requested_date date, turnaround_hours numeric,
        batch_id bigint, source_file_id bigint, source_row_number integer);
    create table {s}.fct_medical_aid_payment (medical_aid_payment_key text, payment_id text, person_key text,
        area_key integer, paid_date date, amount_yuan numeric, aid_funding_source_key text,
        batch_id bigint, source_file_id bigint, source_row_number integer);
    create table {s}.dim_officer (officer_version_key text, officer_id text, person_key text, squad_key text,
        valid_from date, valid_to date, is_current boolean,
        batch_id bigint, source_file_id bigint, source_row_number integer);
    create table {s}.fct_enforcement_case (case_key text, case_id text, enforcement_domain_key text,
        squad_key text, area_key integer, opened_date date, closed_date date, days_to_close integer,
        outcome_name_zh text, penalty_yuan numeric, is_assisted_by_justice_office boolean,
        is_assisted_by_police boolean, is_assisted boolean, subject_type text, subject_uscc text,
        person_key text, batch_id bigint, source_file_id bigint, source_row_number integer);
"""


def _build_marts(conn: psycopg.Connection, schema: str, *, roster: int, certificates: int, placements: int) -> None:
    """A minimal audit build, shaped like the dbt marts, consistent with the raw rows above."""
    s = schema
    conn.execute(f"drop schema if exists {s} cascade; create schema {s}")
    conn.execute(
        f"""
        create table {s}.dim_date as
            select d::date as date_day from generate_series(date '2024-01-01', date '2024-12-31', interval '1 day') d;
        create table {s}.dim_area (area_key int, area_code text, name_zh text, name_en text,
                                   area_level text, parent_area_code text);
        insert into {s}.dim_area values
            (0, 'C01', '城关县', 'Chengguan County', 'county', null),
            (1, 'T01', '城关镇', 'Chengguan Town', 'township', 'C01'),
            (2, 'V01', '东村', 'Dong Village', 'village', 'T01'),
            (3, 'V02', '西村', 'Xi Village', 'village', 'T01'),
            (4, 'V03', '南村', 'Nan Village', 'village', 'T01');
        create table {s}.dim_kpi (kpi_code text, name_zh text, name_en text, department text,
                                  unit text, definition text, direction text);
        insert into {s}.dim_kpi values
            ('hrss_trainees', '培训人数', 'Trainees', 'hrss', 'person', 'Distinct trainees enrolled', 'up'),
            ('hrss_certificates', '发证数', 'Certificates issued', 'hrss', 'count', 'Certificates issued', 'up'),
            ('hrss_placement_rate_pct', '培训后就业率', 'Placement rate', 'hrss', 'pct', 'Placed / enrolled', 'up'),
            -- KPIs of departments that have not delivered here: not required to be published
            ('health_medical_aid_yuan', '临时医疗救助金额', 'Medical aid paid', 'health', 'yuan', 'Aid paid', 'neutral'),
            ('health_open_beds', '开放床位数', 'Open beds', 'health', 'count', 'Beds open at period end', 'up'),
            ('enf_penalties_yuan', '罚款金额', 'Penalties', 'enforcement', 'yuan', 'Fines of closed cases', 'neutral'),
            ('enf_squads', '执法中队数', 'Squads', 'enforcement', 'count', 'Squads staffed at period end', 'neutral');
        create table {s}.dim_person (person_key int, person_id text, sex text, birth_year int);
        create table {s}.dim_training_class (training_class_key int, class_id text, class_name text,
            trade_code text, trade_name_zh text, trade_name_en text, start_date date, end_date date,
            venue_area_key int, provider_name text, training_hours int, planned_trainee_count int);
        insert into {s}.dim_training_class values
            (1, 'C001', '电工培训班', 'electrician', '电工', 'Electrician', '2024-03-01', '2024-03-20', 2, '县职校', 80, 30),
            (2, 'C002', '育婴员培训班', 'nursery', '育婴员', 'Nursery nurse', '2024-03-05', '2024-03-25', 3, null, 60, null);
        create table {s}.dim_employer (employer_key int, employer_name text, employer_type text);
        insert into {s}.dim_employer values (1, '县电力公司', '企业'), (2, '某某电器店', '个体'), (3, '县家政公司', '企业');
        create table {s}.fct_training_enrolment (enrolment_key int, person_key int, training_class_key int,
            area_key int, enrolled_date date, has_completed boolean, batch_id bigint,
            source_file_id bigint, source_row_number int);
        create table {s}.fct_certificate (certificate_key int, certificate_id text, person_key int,
            training_class_key int, area_key int, issued_date date, certificate_level text, batch_id bigint,
            source_file_id bigint, source_row_number int);
        insert into {s}.fct_certificate values
            (1, 'Z1', 1, 1, 2, '2024-03-28', '初级', 1, {certificates}, 1),
            (2, 'Z2', 3, 2, 3, '2024-03-28', null, 1, {certificates}, 2);
        create table {s}.fct_job_placement (placement_key int, person_key int, training_class_key int,
            employer_key int, area_key int, placed_date date, employment_form text, monthly_wage_yuan numeric,
            batch_id bigint, source_file_id bigint, source_row_number int);
        insert into {s}.fct_job_placement values
            (1, 1, 1, 1, 2, '2024-04-01', '全职', 4200, 1, {placements}, 1),
            (2, 2, 1, 2, 2, '2024-04-03', null, null, 1, {placements}, 2),
            (3, 4, 2, 3, 3, '2024-04-09', '全职', 3500, 1, {placements}, 3);
        create table {s}.fct_kpi_value (kpi_code text, period_grain text, period_start_date date,
            area_level text, area_code text, breakdown_dimension text, breakdown_member text,
            value numeric, numerator numeric, denominator numeric);
        insert into {s}.fct_kpi_value values
            ('hrss_trainees', 'year', '2024-01-01', 'township', 'T01', null, null, 4, null, null),
            ('hrss_trainees', 'year', '2024-01-01', 'village', 'V01', null, null, 2, null, null),
            ('hrss_trainees', 'year', '2024-01-01', 'village', 'V02', null, null, 2, null, null),
            ('hrss_trainees', 'year', '2024-01-01', 'township', 'T01', 'sex', 'female', 4, null, null),
            ('hrss_trainees', 'year', '2024-01-01', 'village', 'V01', 'sex', 'female', 2, null, null),
            ('hrss_trainees', 'quarter', '2024-01-01', 'township', 'T01', null, null, 4, null, null),
            ('hrss_trainees', 'month', '2024-03-01', 'township', 'T01', null, null, 4, null, null),
            ('hrss_certificates', 'year', '2024-01-01', 'township', 'T01', null, null, 2, null, null),
            ('hrss_certificates', 'year', '2024-01-01', 'village', 'V01', null, null, 1, null, null),
            ('hrss_certificates', 'year', '2024-01-01', 'village', 'V02', null, null, 1, null, null),
            ('hrss_placement_rate_pct', 'year', '2024-01-01', 'township', 'T01', null, null, 75.0, 3, 4),
            ('hrss_placement_rate_pct', 'year', '2024-01-01', 'village', 'V02', null, null, 50.0, 1, 2),
            -- no enrolment in this village: the rate is undefined, published as null
            ('hrss_placement_rate_pct', 'year', '2024-01-01', 'village', 'V03', null, null, null, 0, 0);
        """
        + DEPARTMENT_MARTS_DDL.format(s=s)
    )
    conn.cursor().executemany(
        f"insert into {s}.dim_person values (%s, %s, 'female', %s)",
        [(key, pid, birth) for key, pid, birth, *_ in ENROLMENT_ROWS],
    )
    conn.cursor().executemany(
        f"insert into {s}.fct_training_enrolment values (%s, %s, %s, %s, %s, %s, 1, %s, %s)",
        [
            (n, key, 1 if cls == "C001" else 2, 2 if village == "V01" else 3, day, done, roster, n)
            for n, (key, _, _, village, cls, day, done) in enumerate(ENROLMENT_ROWS, start=1)
        ],
    )


# --- helpers ---------------------------------------------------------------


def stored_results(conn: psycopg.Connection, run_id: int) -> dict[str, tuple[str, bool, dict, dict]]:
    rows = conn.execute(
        "select check_name, suite_name, success, observed, details from audit.validation_result "
        "where validation_run_id = %s",
        (run_id,),
    ).fetchall()
    return {check: (suite, success, observed, details) for check, suite, success, observed, details in rows}


def failed_checks(result: GateResult) -> set[str]:
    return {failure.check for failure in result.failures}


# --- the tests ---------------------------------------------------------------


@pytest.mark.parametrize("schema", [CANDIDATE, "marts_candidate_7"])
def test_consistent_audit_build_passes_and_every_check_is_stored(
    warehouse_url: str, conn: psycopg.Connection, schema: str, tmp_path: Path
) -> None:
    load_example_warehouse(conn, schema)

    result = run_gate(warehouse_url, candidate_schema=schema, run_label="test pass", results_dir=tmp_path)

    assert result.failures == []
    assert result.success is True
    stored = stored_results(conn, result.validation_run_id)
    assert len(stored) == result.checks_run >= 20
    assert all(success for _, success, _, _ in stored.values())
    # Health and enforcement have not delivered: their empty facts and unpublished KPIs pass.
    assert stored["contract: fct_medical_aid_payment has rows"][:2] == ("fct_medical_aid_payment", True)
    assert stored["marts vs KPI: enf_penalties_yuan total"][1] is True
    run = conn.execute(
        "select run_label, candidate_schema, success, finished_at is not null, gx_version "
        "from audit.validation_run where validation_run_id = %s",
        (result.validation_run_id,),
    ).fetchone()
    assert run is not None and run[:4] == ("test pass", schema, True, True) and run[4]
    written = sorted(p.name for p in tmp_path.glob("*.json"))
    assert f"validation_run_{result.validation_run_id}_fct_kpi_value.json" in written
    assert json.loads((tmp_path / written[0]).read_text(encoding="utf-8"))["success"] is True
    # The run's GX Data Docs, a page per suite validated.
    docs = tmp_path / f"data_docs_run_{result.validation_run_id}"
    assert "Great Expectations" in (docs / "index.html").read_text(encoding="utf-8")
    assert len(list((docs / "validations").rglob("*.html"))) == len(written)


def test_lost_raw_row_fails_manifest_vs_raw_naming_the_extract(
    warehouse_url: str, conn: psycopg.Connection
) -> None:
    conn.execute("delete from raw.hrss_certificate where _row_number = 2")

    result = run_gate(warehouse_url)

    assert result.success is False
    failure = next(f for f in result.failures if f.check.startswith("manifest vs raw"))
    assert failure.check == "manifest vs raw: hrss_certificate rows per current file"
    assert failure.relation == "raw.hrss_certificate"
    assert "hrss_certificate" in failure.message
    assert str(failure).startswith("[load_manifest] manifest vs raw: hrss_certificate")
    assert "manifest_rows_loaded=2, raw_rows=1" in failure.message
    stored = stored_results(conn, result.validation_run_id)
    suite, success, observed, details = stored["manifest vs raw: hrss_certificate rows per current file"]
    assert (suite, success, observed) == ("load_manifest", False, {"observed_value": 1})
    assert details["result"]["details"]["unexpected_rows"][0]["raw_rows"] == 1
    # The other extracts still reconcile.
    assert stored["manifest vs raw: hrss_enrolment rows per current file"][1] is True


def test_doubled_raw_row_fails_manifest_vs_raw(warehouse_url: str, conn: psycopg.Connection) -> None:
    conn.execute(
        "insert into raw.hrss_enrolment select * from raw.hrss_enrolment "
        "where _file_id = (select max(file_id) from audit.load_manifest where extract_name = 'hrss_enrolment' "
        "and status = 'loaded' and superseded_by_file_id is null) and _row_number = 1"
    )

    result = run_gate(warehouse_url)

    assert "manifest vs raw: hrss_enrolment rows per current file" in failed_checks(result)
    failure = next(f for f in result.failures if f.check == "manifest vs raw: hrss_enrolment rows per current file")
    assert "manifest_rows_loaded=4, raw_rows=5" in failure.message


def test_rows_of_superseded_files_do_not_count_as_current(warehouse_url: str, conn: psycopg.Connection) -> None:
    # Doubling a row of the superseded roster changes nothing the gate checks.
    conn.execute(
        "insert into raw.hrss_enrolment select * from raw.hrss_enrolment "
        "where _file_id = (select file_id from audit.load_manifest where superseded_by_file_id is not null) "
        "and _row_number = 1"
    )

    assert run_gate(warehouse_url).failures == []


def test_missing_mart_row_fails_raw_vs_marts(warehouse_url: str, conn: psycopg.Connection) -> None:
    conn.execute(f"delete from {CANDIDATE}.fct_job_placement where source_row_number = 3")

    result = run_gate(warehouse_url)

    assert failed_checks(result) == {"raw vs marts: hrss_placement rows per current file"}
    (failure,) = result.failures
    assert failure.suite == "fct_job_placement"
    assert failure.relation == f"{CANDIDATE}.fct_job_placement"
    assert "current_raw_rows=3, mart_rows=2" in failure.message


def test_mart_rows_from_a_superseded_file_fail_raw_vs_marts(warehouse_url: str, conn: psycopg.Connection) -> None:
    conn.execute(
        f"update {CANDIDATE}.fct_training_enrolment set source_file_id = "
        "(select file_id from audit.load_manifest where superseded_by_file_id is not null) "
        "where source_row_number = 4"
    )

    result = run_gate(warehouse_url)

    assert {
        "raw vs marts: hrss_enrolment rows per current file",
        "raw vs marts: fct_training_enrolment rows come from current hrss_enrolment files",
    } <= failed_checks(result)


def test_ten_year_old_trainee_fails_the_age_contract(warehouse_url: str, conn: psycopg.Connection) -> None:
    conn.execute(f"update {CANDIDATE}.dim_person set birth_year = 2014 where person_key = 4")

    result = run_gate(warehouse_url)

    assert failed_checks(result) == {"contract: trainee age at enrolment"}
    (failure,) = result.failures
    assert failure.relation == f"{CANDIDATE}.fct_training_enrolment"
    assert "aged 16 to 75" in failure.message
    assert "birth_year=2014" in failure.message and "age_at_enrolment=10" in failure.message
    _, success, observed, details = stored_results(conn, result.validation_run_id)["contract: trainee age at enrolment"]
    assert success is False
    assert observed == {"observed_value": 1}
    assert details["message"] == failure.message
    run_success = conn.execute(
        "select success from audit.validation_run where validation_run_id = %s", (result.validation_run_id,)
    ).fetchone()
    assert run_success == (False,)


# One way to break each remaining check, as (SQL run against the example warehouse, check that must fail).
BREAKAGES = [
    ("update {s}.fct_job_placement set monthly_wage_yuan = 42000 * 12 where placement_key = 1",
     "contract: monthly wage range"),
    ("update {s}.fct_job_placement set monthly_wage_yuan = null where placement_key = 1",
     "contract: monthly wage reported"),
    ("update {s}.fct_kpi_value set value = 120 where kpi_code = 'hrss_placement_rate_pct' and area_code = 'T01'",
     "contract: share KPIs within 0-100"),
    ("update {s}.fct_kpi_value set value = -1 where kpi_code = 'hrss_certificates' and area_code = 'V02'",
     "contract: KPI values not negative"),
    ("update {s}.fct_kpi_value set value = 1 where kpi_code = 'hrss_trainees' and area_code = 'T01' "
     "and period_grain = 'year' and breakdown_dimension = 'sex'",
     "contract: township count not below a village's"),
    ("update {s}.fct_kpi_value set period_start_date = '2024-02-01' where period_grain = 'quarter'",
     "contract: period starts at its grain"),
    ("delete from {s}.fct_kpi_value where kpi_code = 'hrss_certificates'",
     "contract: every KPI is published"),
    ("update {s}.dim_area set area_level = 'township' where area_code = 'V01'",
     "contract: one county, townships in it, villages in townships"),
    ("insert into {s}.dim_area values (9, 'C02', '另一县', 'Another County', 'county', null)",
     "contract: one county, townships in it, villages in townships"),
    ("insert into {s}.fct_kpi_value select kpi_code, period_grain, period_start_date, 'county', 'C01', "
     "breakdown_dimension, breakdown_member, 0, 0, null from {s}.fct_kpi_value "
     "where area_level = 'township' and kpi_code = 'hrss_trainees'",
     "contract: county count not below a township's"),
    ("delete from {s}.fct_certificate",
     "contract: fct_certificate has rows"),
    ("delete from {s}.dim_training_class where class_id = 'C002'",
     "raw vs marts: hrss_training_class rows"),
    ("delete from raw.hrss_placement where _row_number = 3",
     "manifest vs raw: hrss_placement rows per current file"),
    ("update raw.hrss_certificate set _file_id = 999 where _row_number = 2",
     "manifest vs raw: hrss_certificate rows have a manifest file"),
]


@pytest.mark.parametrize(("breakage", "check"), BREAKAGES, ids=[check for _, check in BREAKAGES])
def test_each_contract_breakage_fails_its_check(
    warehouse_url: str, conn: psycopg.Connection, breakage: str, check: str
) -> None:
    conn.execute(breakage.format(s=CANDIDATE))

    result = run_gate(warehouse_url)

    assert check in failed_checks(result)
    assert stored_results(conn, result.validation_run_id)[check][1] is False


def test_broken_check_query_is_reported_not_raised(warehouse_url: str, conn: psycopg.Connection) -> None:
    # A column the age check needs is gone: the check fails and says why.
    conn.execute(f"alter table {CANDIDATE}.dim_person drop column birth_year")

    result = run_gate(warehouse_url)

    failure = next(f for f in result.failures if f.check == "contract: trainee age at enrolment")
    assert "could not run" in failure.message and "birth_year" in failure.message


def test_govkpi_gate_says_passed_failed_or_could_not_run_in_its_exit_code(
    warehouse_url: str, conn: psycopg.Connection, tmp_path: Path
) -> None:
    env = dict(os.environ, GOVKPI_WAREHOUSE_URL=warehouse_url, GOVKPI_STATE_DIR=str(tmp_path))

    passed = run_govkpi(["gate"], env)
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.startswith("PASSED: all ") and f"checks of schema {CANDIDATE} passed" in passed.stdout

    conn.execute(f"delete from {CANDIDATE}.fct_job_placement where source_row_number = 3")
    failed = run_govkpi(["gate", "--run-label", "from the command line"], env)
    assert failed.returncode == 1, failed.stderr
    assert failed.stdout.startswith("FAILED: 1 of ") and "Do not publish this build" in failed.stdout
    assert "1. raw vs marts: hrss_placement rows per current file" in failed.stdout
    assert "current_raw_rows=3, mart_rows=2" in failed.stdout
    label = conn.execute("select run_label, success from audit.validation_run order by validation_run_id desc limit 1").fetchone()
    assert label == ("from the command line", False)

    missing = run_govkpi(["gate", "--schema", "nothing_here"], env)
    assert missing.returncode == 2 and "build the audit models" in missing.stderr


def test_missing_audit_build_raises_a_clear_error(warehouse_url: str, conn: psycopg.Connection) -> None:
    with pytest.raises(GateError, match=r"lacks nothing_here\.dim_training_class, .*nothing_here\.dim_area.*build the audit models"):
        run_gate(warehouse_url, candidate_schema="nothing_here")


def test_bad_schema_name_and_url_raise_a_clear_error(warehouse_url: str) -> None:
    with pytest.raises(GateError, match="not a plain lowercase SQL identifier"):
        run_gate(warehouse_url, candidate_schema="marts; drop table x")
    with pytest.raises(GateError, match="must be a PostgreSQL URL"):
        run_gate("mysql://root@localhost/govkpi")


def test_url_conversion_keeps_socket_parameters() -> None:
    assert (
        to_sqlalchemy_url("postgresql://postgres:@/govkpi?host=/abs/socket/dir")
        == "postgresql+psycopg://postgres:@/govkpi?host=/abs/socket/dir"
    )
    assert to_sqlalchemy_url("postgres://u:p%40ss@db:5432/govkpi") == "postgresql+psycopg://u:p%40ss@db:5432/govkpi"


def _kpi_scope(conn: psycopg.Connection, run_id: int) -> tuple[str, set[tuple]]:
    reason = conn.execute(
        "select kpi_scope from audit.validation_run where validation_run_id = %s", (run_id,)
    ).fetchone()
    partitions = conn.execute(
        "select kpi_code, period_grain, period_start_date from audit.validation_kpi_scope where validation_run_id = %s",
        (run_id,),
    ).fetchall()
    assert reason is not None
    return reason[0], set(partitions)


def test_partition_checks_read_the_kpi_partitions_that_differ_from_the_publication(
    warehouse_url: str, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/adr/0026: what a publication's gate checked is not checked again; everything else is."""
    from expectations import gate
    from govkpi.publish import publish_candidate

    every = {
        (code, grain, start)
        for code, grain, start in conn.execute(
            f"select distinct kpi_code, period_grain, period_start_date from {CANDIDATE}.fct_kpi_value"
        ).fetchall()
    }
    try:
        conn.execute("drop schema if exists marts cascade")
        first = run_gate(warehouse_url)
        reason, scope = _kpi_scope(conn, first.validation_run_id)
        assert first.success and scope == every and reason.startswith("every partition")
        publication = publish_candidate(conn, validation_run_id=first.validation_run_id).publication_id

        # Nothing changed since the publication: no partition is checked again, and the run passes.
        unchanged = run_gate(warehouse_url)
        reason, scope = _kpi_scope(conn, unchanged.validation_run_id)
        assert unchanged.success and scope == set() and reason == f"the partitions whose rows differ from publication {publication}"
        against = conn.execute(
            "select kpi_scope_publication_id from audit.validation_run where validation_run_id = %s",
            (unchanged.validation_run_id,),
        ).fetchone()
        assert against == (publication,)

        # A village above its township in one partition: that partition is checked, and fails.
        conn.execute(
            f"update {CANDIDATE}.fct_kpi_value set value = 3 where kpi_code = 'hrss_certificates' and area_code = 'V02'"
        )
        broken = run_gate(warehouse_url)
        reason, scope = _kpi_scope(conn, broken.validation_run_id)
        assert scope == {("hrss_certificates", "year", date(2024, 1, 1))}
        assert failed_checks(broken) == {"contract: township count not below a village's"}
        (failure,) = broken.failures
        assert "village_code=V02" in failure.message and "village_value=3" in failure.message

        # A dimension the checks read differs from the published one: every partition again.
        conn.execute(f"update {CANDIDATE}.fct_kpi_value set value = 1 where kpi_code = 'hrss_certificates' and area_code = 'V02'")
        conn.execute(f"update {CANDIDATE}.dim_area set name_en = name_en || ' (renamed)' where area_code = 'V01'")
        renamed = run_gate(warehouse_url)
        reason, scope = _kpi_scope(conn, renamed.validation_run_id)
        assert renamed.success and scope == every and reason == f"every partition: dim_area differs from publication {publication}'s"

        # Suites' code other than the publication's: every partition again.
        conn.execute(f"update {CANDIDATE}.dim_area set name_en = replace(name_en, ' (renamed)', '')")
        monkeypatch.setattr(gate, "suite_code_sha256", lambda: "0" * 64)
        recoded = run_gate(warehouse_url)
        reason, scope = _kpi_scope(conn, recoded.validation_run_id)
        assert scope == every and reason == f"every partition: publication {publication} was validated by other suites' code"
    finally:
        conn.execute("drop schema if exists marts cascade")


def test_publish_reads_again_only_the_tables_written_since_the_last_publication(
    warehouse_url: str, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/adr/0036: a table whose signature is the one the last publication recorded is not hashed again."""
    from govkpi import publish as publishing
    from govkpi.audit import table_hash

    hashed: list[tuple[str, list[str]]] = []
    real_schema_hashes = publishing.schema_hashes

    def recording_schema_hashes(connection, schema, tables=None):
        hashed.append((schema, sorted(tables or [])))
        return real_schema_hashes(connection, schema, tables)

    def publish_again() -> int:
        hashed.clear()
        run = run_gate(warehouse_url)
        assert run.success, run.failures
        return publishing.publish_candidate(conn, validation_run_id=run.validation_run_id).publication_id

    def recorded_hashes_are_the_tables(publication: int) -> None:
        recorded = conn.execute("select content_hashes from audit.publication where publication_id = %s", (publication,)).fetchone()[0]
        assert recorded == {t: table_hash(conn, "marts", t) for t in recorded}

    try:
        conn.execute("drop schema if exists marts cascade")
        publish_again()  # the first publication swaps in and hashes everything
        monkeypatch.setattr(publishing, "schema_hashes", recording_schema_hashes)

        # Nothing written since: no table of either schema is read again.
        unchanged = publish_again()
        assert hashed == [(CANDIDATE, []), ("marts", [])], hashed
        recorded_hashes_are_the_tables(unchanged)

        # A candidate table rebuilt with other content: only it is hashed, then published.
        conn.execute(f"update {CANDIDATE}.dim_area set name_en = name_en || ' (renamed)' where area_code = 'V01'")
        renamed = publish_again()
        assert hashed == [(CANDIDATE, ["dim_area"]), ("marts", [])], hashed
        assert conn.execute("select name_en from marts.dim_area where area_code = 'V01'").fetchone()[0].endswith(" (renamed)")
        recorded_hashes_are_the_tables(renamed)

        # A published row edited behind the log: that live table is read again, found changed and restored.
        conn.execute("update marts.fct_kpi_value set value = value + 1000 where area_code = 'V01'")
        restored = publish_again()
        assert hashed == [(CANDIDATE, []), ("marts", ["fct_kpi_value"])], hashed
        differing = conn.execute(
            f"select count(*) from (select * from marts.fct_kpi_value except all select * from {CANDIDATE}.fct_kpi_value) as d"
        ).fetchone()[0]
        assert differing == 0
        recorded_hashes_are_the_tables(restored)
        conn.execute(f"update {CANDIDATE}.dim_area set name_en = replace(name_en, ' (renamed)', '')")
    finally:
        conn.execute("drop schema if exists marts cascade")
