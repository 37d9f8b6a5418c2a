"""The gate on the health alliance's and the enforcement brigade's marts, against a real PostgreSQL.

Starts from the HR & SS example warehouse of `test_expectations_gate` and
adds what the two new departments delivered: their files in the manifest
(an earlier aid form and an earlier case register, both superseded), their
raw rows, their marts derived from the current raw rows the way the dbt
models derive them, and KPI values that add up. A test then breaks one
thing the way a real pipeline fault would and checks that the gate names
the reconciliation or contract that broke.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from test_expectations_gate import CANDIDATE, add_file, failed_checks, load_example_warehouse, stored_results

from expectations.gate import run_gate
from expectations.suites import SUITE_MODULES
from expectations.suites._reconciliation import AMOUNT_TOTALS, LINEAGES
from ingestion.ddl import ensure_schema
from ingestion.specs import all_extracts

pytestmark = pytest.mark.integration

LOCAL = timezone(timedelta(hours=8))
CURRENT_FILES = "select file_id from audit.load_manifest where status = 'loaded' and superseded_by_file_id is null"

# Current medical aid payments: 10,000.50 yuan paid in 2023 and 1,500 in 2024.
AID_ROWS = [
    {"payment_id": "LSJZ-001", "household_head_id": "h1", "household_head_birth_year": 1960,
     "household_head_sex": "male", "village_name": "东村", "paid_date": date(2023, 4, 10),
     "amount_yuan": 5000, "funding_source_name": "企业捐赠"},
    {"payment_id": "LSJZ-002", "household_head_id": "h1", "household_head_birth_year": 1960,
     "household_head_sex": "male", "village_name": "东村", "paid_date": date(2023, 9, 15),
     "amount_yuan": Decimal("3000.50"), "funding_source_name": "爱心人士"},
    {"payment_id": "LSJZ-003", "household_head_id": "h2", "household_head_birth_year": 1958,
     "household_head_sex": "female", "village_name": "西村", "paid_date": date(2023, 9, 20),
     "amount_yuan": 2000, "funding_source_name": "企业捐赠"},
    {"payment_id": "LSJZ-004", "household_head_id": "h3", "household_head_birth_year": 1971,
     "household_head_sex": "female", "village_name": "西村", "paid_date": date(2024, 1, 8),
     "amount_yuan": 1500, "funding_source_name": "爱心人士"},
]

# Current cases: fines of closed cases 17,000 yuan closed in 2023 and 800 in 2024;
# the open case's fine is not counted until it closes.
CASE_ROWS = [
    {"case_id": "综执罚〔2022〕171号", "domain_name": "自然资源", "squad_name": "国土中队", "village_name": "东村",
     "opened_date": date(2022, 11, 20), "closed_date": date(2023, 1, 10), "outcome_name": "罚款",
     "penalty_yuan": 5000, "assisting_agency_names": None, "subject_type_name": "个人", "subject_uscc": None,
     "subject_person_id": "p12", "subject_person_birth_year": 1970, "subject_person_sex": "male"},
    {"case_id": "综执罚〔2023〕001号", "domain_name": "生态环境", "squad_name": "环保应急中队", "village_name": "西村",
     "opened_date": date(2023, 3, 6), "closed_date": date(2023, 4, 22), "outcome_name": "罚款",
     "penalty_yuan": 12000, "assisting_agency_names": "司法所、派出所", "subject_type_name": "单位",
     "subject_uscc": "91340121MA2TEST001", "subject_person_id": None, "subject_person_birth_year": None,
     "subject_person_sex": None},
    {"case_id": "综执罚〔2023〕002号", "domain_name": "市场监管", "squad_name": "国土中队", "village_name": "东村",
     "opened_date": date(2023, 12, 20), "closed_date": None, "outcome_name": None, "penalty_yuan": 300,
     "assisting_agency_names": "派出所", "subject_type_name": "单位", "subject_uscc": "92340121MA2TEST002",
     "subject_person_id": None, "subject_person_birth_year": None, "subject_person_sex": None},
    {"case_id": "综执罚〔2024〕001号", "domain_name": "市场监管", "squad_name": "国土中队", "village_name": "西村",
     "opened_date": date(2023, 12, 28), "closed_date": date(2024, 1, 5), "outcome_name": "罚款",
     "penalty_yuan": 800, "assisting_agency_names": None, "subject_type_name": "个人", "subject_uscc": None,
     "subject_person_id": "p13", "subject_person_birth_year": 1975, "subject_person_sex": "male"},
]


@pytest.fixture(scope="module")
def warehouse_url(fresh_db: str) -> str:
    """This module's own database, with the loader's tables for every spec (health and enforcement too)."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        ensure_schema(conn, all_extracts())
    return fresh_db


@pytest.fixture
def conn(warehouse_url: str) -> Iterator[psycopg.Connection]:
    """A warehouse where all three departments delivered, freshly filled with consistent data."""
    with psycopg.connect(warehouse_url, autocommit=True) as connection:
        load_example_warehouse(connection, CANDIDATE)
        load_department_deliveries(connection, CANDIDATE)
        yield connection


# --- the example deliveries --------------------------------------------------


def _insert_raw(conn: psycopg.Connection, table: str, rows: list[dict[str, Any]], *, batch_id: int, file_id: int) -> None:
    columns = [*rows[0], "_batch_id", "_file_id", "_row_number"]
    conn.cursor().executemany(
        f"insert into raw.{table} ({', '.join(columns)}) values ({', '.join(['%s'] * len(columns))})",
        # Data rows start on line 3 of a file: a title line, then the header.
        [(*row.values(), batch_id, file_id, number) for number, row in enumerate(rows, start=3)],
    )


def _new_batch(conn: psycopg.Connection, department: str) -> int:
    row = conn.execute(
        "insert into audit.load_batch (department, period, status) values (%s, '2023', 'loaded') returning batch_id",
        (department,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _deliver(
    conn: psycopg.Connection, batch_id: int, extract: str, rows: list[dict[str, Any]], **overrides: object
) -> int:
    file_id = add_file(conn, batch_id, extract, len(rows), period="2023", **overrides)
    _insert_raw(conn, extract, rows, batch_id=batch_id, file_id=file_id)
    return file_id


def load_department_deliveries(conn: psycopg.Connection, schema: str) -> None:
    """Add the health alliance's and the brigade's files, raw rows, marts and KPI values."""
    with conn.transaction():
        health = _new_batch(conn, "health")
        _deliver(conn, health, "health_ward", [
            {"ward_id": "X-201", "site_name": "新院区", "care_department_name": "内科", "open_bed_count": 2,
             "valid_from": date(2023, 6, 1), "valid_to": date(2023, 8, 31)},
            {"ward_id": "X-201", "site_name": "新院区", "care_department_name": "内科", "open_bed_count": 3,
             "valid_from": date(2023, 9, 1), "valid_to": None},
            {"ward_id": "X-501", "site_name": "新院区", "care_department_name": "中医科", "open_bed_count": 1,
             "valid_from": date(2023, 6, 1), "valid_to": None},
        ])
        _deliver(conn, health, "health_admission", [
            {"admission_id": "ZY1", "patient_id": "p1", "patient_birth_year": 1985, "patient_sex": "male",
             "village_name": "东村", "care_department_name": "内科",
             "admitted_date": date(2023, 3, 30), "discharged_date": date(2023, 4, 2)},
            {"admission_id": "ZY2", "patient_id": "p2", "patient_birth_year": 1990, "patient_sex": "female",
             "village_name": "西村", "care_department_name": "中医科",
             "admitted_date": date(2023, 7, 1), "discharged_date": date(2023, 7, 1)},
            # still in hospital: no discharge, no length of stay
            {"admission_id": "ZY3", "patient_id": "p1", "patient_birth_year": 1985, "patient_sex": "male",
             "village_name": "东村", "care_department_name": "内科",
             "admitted_date": date(2023, 12, 29), "discharged_date": None},
        ])
        _deliver(conn, health, "health_expert_round", [
            {"round_id": "CF-001", "round_date": date(2023, 6, 6), "expert_department_name": "心内科",
             "care_department_name": "内科", "patients_seen_count": 4},
            {"round_id": "CF-002", "round_date": date(2023, 6, 13), "expert_department_name": "中医科",
             "care_department_name": "中医科", "patients_seen_count": 3},
        ])
        _deliver(conn, health, "health_remote_reading", [
            {"request_id": "YC1", "patient_id": "p1", "patient_birth_year": 1985, "patient_sex": "male",
             "village_name": "东村", "exam_type_name": "CT",
             "requested_at": datetime(2023, 6, 30, 23, 30, tzinfo=LOCAL),
             "reported_at": datetime(2023, 7, 1, 2, 0, tzinfo=LOCAL)},
            {"request_id": "YC2", "patient_id": "p3", "patient_birth_year": 1999, "patient_sex": "female",
             "village_name": "西村", "exam_type_name": "B超",
             "requested_at": datetime(2023, 3, 2, 9, 0, tzinfo=LOCAL),
             "reported_at": datetime(2023, 3, 3, 13, 30, tzinfo=LOCAL)},
            # not reported yet: no turnaround
            {"request_id": "YC3", "patient_id": "p2", "patient_birth_year": 1990, "patient_sex": "female",
             "village_name": "西村", "exam_type_name": "心电图",
             "requested_at": datetime(2023, 12, 31, 22, 0, tzinfo=LOCAL), "reported_at": None},
        ])
        # An earlier aid form, replaced by the corrected one: its rows stay in raw but never count.
        old_aid = _deliver(conn, health, "health_medical_aid", AID_ROWS[:2], file_name="aid_v1.xlsx")
        aid = _deliver(conn, health, "health_medical_aid", AID_ROWS, file_name="aid_v2.xlsx")
        conn.execute("update audit.load_manifest set superseded_by_file_id = %s where file_id = %s", (aid, old_aid))

        enforcement = _new_batch(conn, "enforcement")
        _deliver(conn, enforcement, "enf_officer_assignment", [
            {"officer_id": "ZF-001", "person_id": "e1", "person_birth_year": 1980, "person_sex": "male",
             "squad_name": "国土中队", "assigned_from": date(2021, 7, 1), "assigned_to": None},
            {"officer_id": "ZF-002", "person_id": "e2", "person_birth_year": 1986, "person_sex": "male",
             "squad_name": "环保应急中队", "assigned_from": date(2021, 7, 1), "assigned_to": date(2023, 2, 28)},
            {"officer_id": "ZF-002", "person_id": "e2", "person_birth_year": 1986, "person_sex": "male",
             "squad_name": "国土中队", "assigned_from": date(2023, 3, 1), "assigned_to": None},
        ])
        # An earlier register whose fine was corrected: superseded, never counted.
        old_cases = _deliver(conn, enforcement, "enf_case", [CASE_ROWS[0] | {"penalty_yuan": 50000}],
                             file_name="cases_v1.csv")
        cases = _deliver(conn, enforcement, "enf_case", CASE_ROWS, file_name="cases_v2.csv")
        conn.execute("update audit.load_manifest set superseded_by_file_id = %s where file_id = %s", (cases, old_cases))

        _build_department_marts(conn, schema)


def _build_department_marts(conn: psycopg.Connection, s: str) -> None:
    """The health and enforcement marts from the current raw rows, as the dbt models build them."""
    conn.execute(
        f"""
        insert into {s}.dim_ward
        select md5(ward_id || valid_from), ward_id, 'new_site', site_name, md5(care_department_name),
               open_bed_count, valid_from, valid_to + 1, valid_to is null, _batch_id, _file_id, _row_number
        from raw.health_ward where _file_id in ({CURRENT_FILES});

        insert into {s}.fct_inpatient_stay
        select md5(admission_id), admission_id, md5(patient_id), a.area_key, md5(care_department_name),
               admitted_date, discharged_date, discharged_date - admitted_date, _batch_id, _file_id, _row_number
        from raw.health_admission
        left join {s}.dim_area as a on a.name_zh = village_name and a.area_level = 'village'
        where _file_id in ({CURRENT_FILES});

        insert into {s}.fct_expert_round
        select md5(round_id), round_id, round_date, md5(care_department_name), expert_department_name,
               patients_seen_count, _batch_id, _file_id, _row_number
        from raw.health_expert_round where _file_id in ({CURRENT_FILES});

        insert into {s}.fct_remote_reading
        select md5(request_id), request_id, md5(patient_id), a.area_key, md5(exam_type_name),
               requested_at, reported_at, (requested_at at time zone 'Asia/Shanghai')::date,
               round(extract(epoch from reported_at - requested_at) / 3600, 2), _batch_id, _file_id, _row_number
        from raw.health_remote_reading
        left join {s}.dim_area as a on a.name_zh = village_name and a.area_level = 'village'
        where _file_id in ({CURRENT_FILES});

        insert into {s}.fct_medical_aid_payment
        select md5(payment_id), payment_id, md5(household_head_id), a.area_key, paid_date, amount_yuan,
               md5(funding_source_name), _batch_id, _file_id, _row_number
        from raw.health_medical_aid
        left join {s}.dim_area as a on a.name_zh = village_name and a.area_level = 'village'
        where _file_id in ({CURRENT_FILES});

        insert into {s}.dim_officer
        select md5(officer_id || assigned_from), officer_id, md5(person_id), q.squad_key, assigned_from,
               assigned_to + 1, assigned_to is null, _batch_id, _file_id, _row_number
        from raw.enf_officer_assignment
        left join {s}.dim_squad as q on q.name_zh = squad_name
        where _file_id in ({CURRENT_FILES});

        insert into {s}.fct_enforcement_case
        select md5(case_id), case_id, md5(domain_name), q.squad_key, a.area_key, opened_date, closed_date,
               closed_date - opened_date, outcome_name, penalty_yuan,
               coalesce(strpos(assisting_agency_names, '司法所') > 0, false),
               coalesce(strpos(assisting_agency_names, '派出所') > 0, false),
               assisting_agency_names is not null,
               t.subject_type,
               case when t.subject_type = 'business' then subject_uscc end,
               case when t.subject_type = 'individual' then md5(subject_person_id) end,
               _batch_id, _file_id, _row_number
        from raw.enf_case
        left join {s}.dim_squad as q on q.name_zh = squad_name
        left join {s}.dim_area as a on a.name_zh = village_name and a.area_level = 'village'
        left join (values ('个人', 'individual'), ('单位', 'business')) as t (name_zh, subject_type)
            on t.name_zh = subject_type_name
        where _file_id in ({CURRENT_FILES});

        insert into {s}.fct_kpi_value values
            -- money: the township's yearly totals add up to the facts over all years
            ('health_medical_aid_yuan', 'year', '2023-01-01', 'township', 'T01', null, null, 10000.50, 10000.50, null),
            ('health_medical_aid_yuan', 'year', '2024-01-01', 'township', 'T01', null, null, 1500, 1500, null),
            ('health_medical_aid_yuan', 'year', '2023-01-01', 'township', 'T01', 'funding_source', 'enterprise', 7000, 7000, null),
            ('health_medical_aid_yuan', 'year', '2023-01-01', 'township', 'T01', 'funding_source', 'benefactors', 3000.50, 3000.50, null),
            ('health_medical_aid_yuan', 'year', '2023-01-01', 'village', 'V01', null, null, 8000.50, 8000.50, null),
            ('health_medical_aid_yuan', 'quarter', '2023-07-01', 'township', 'T01', null, null, 5000.50, 5000.50, null),
            ('enf_penalties_yuan', 'year', '2023-01-01', 'township', 'T01', null, null, 17000, 17000, null),
            ('enf_penalties_yuan', 'year', '2024-01-01', 'township', 'T01', null, null, 800, 800, null),
            ('enf_penalties_yuan', 'month', '2023-04-01', 'township', 'T01', null, null, 12000, 12000, null),
            -- stocks at the end of the period: township only
            ('health_open_beds', 'year', '2023-01-01', 'township', 'T01', null, null, 4, 4, null),
            ('health_open_beds', 'month', '2023-06-01', 'township', 'T01', null, null, 3, 3, null),
            ('enf_squads', 'year', '2023-01-01', 'township', 'T01', null, null, 1, 1, null),
            ('enf_squads', 'month', '2023-01-01', 'township', 'T01', null, null, 2, 2, null);
        """
    )


# --- the tests ---------------------------------------------------------------

# Checks this module's warehouse exercises with rows, for the passing example.
NEW_CHECKS = {
    "raw vs marts: health_ward rows per current file",
    "raw vs marts: health_admission rows per current file",
    "raw vs marts: health_expert_round rows per current file",
    "raw vs marts: health_remote_reading rows per current file",
    "raw vs marts: health_medical_aid rows per current file",
    "raw vs marts: enf_officer_assignment rows per current file",
    "raw vs marts: enf_case rows per current file",
    "raw vs marts: health_medical_aid amount_yuan total",
    "raw vs marts: enf_case penalty_yuan total",
    "marts vs KPI: health_medical_aid_yuan total",
    "marts vs KPI: enf_penalties_yuan total",
    "contract: reported not before requested",
    "contract: turnaround hours range",
    "contract: discharged not before admitted",
    "contract: length of stay range",
    "contract: aid amount range",
    "contract: closed not before opened",
    "contract: penalty not negative",
    "contract: party type matches its credit code",
    "contract: ward open beds range",
    "contract: as-of-period-end KPIs for the township only",
    "contract: enf_squads not above dim_squad rows",
    "contract: KPI departments are known",
    "contract: fct_medical_aid_payment has rows",
    "contract: fct_enforcement_case has rows",
}


def test_consistent_build_of_three_departments_passes(warehouse_url: str, conn: psycopg.Connection) -> None:
    result = run_gate(warehouse_url)

    assert result.failures == []
    stored = stored_results(conn, result.validation_run_id)
    assert NEW_CHECKS <= set(stored)
    assert stored["raw vs marts: health_medical_aid amount_yuan total"][0] == "fct_medical_aid_payment"
    assert stored["marts vs KPI: health_medical_aid_yuan total"][0] == "fct_kpi_value"


def test_lost_aid_row_fails_manifest_vs_raw(warehouse_url: str, conn: psycopg.Connection) -> None:
    conn.execute(
        "delete from raw.health_medical_aid where payment_id = 'LSJZ-004' and _file_id in (" + CURRENT_FILES + ")"
    )

    result = run_gate(warehouse_url)

    failure = next(f for f in result.failures if f.check == "manifest vs raw: health_medical_aid rows per current file")
    assert "manifest vs raw" in str(failure)
    assert "manifest_rows_loaded=4, raw_rows=3" in failure.message
    # The marts still hold the row, so raw vs marts fails too, in rows and in money.
    assert {
        "raw vs marts: health_medical_aid rows per current file",
        "raw vs marts: health_medical_aid amount_yuan total",
    } <= failed_checks(result)


def test_doubled_aid_row_fails_manifest_vs_raw(warehouse_url: str, conn: psycopg.Connection) -> None:
    conn.execute(
        "insert into raw.health_medical_aid select * from raw.health_medical_aid "
        "where payment_id = 'LSJZ-002' and _file_id in (" + CURRENT_FILES + ")"
    )

    result = run_gate(warehouse_url)

    failure = next(f for f in result.failures if f.check == "manifest vs raw: health_medical_aid rows per current file")
    assert "manifest vs raw" in str(failure)
    assert "manifest_rows_loaded=4, raw_rows=5" in failure.message
    total = next(f for f in result.failures if f.check == "raw vs marts: health_medical_aid amount_yuan total")
    assert "current_raw_total=14501.0, mart_total=11500.5, difference=-3000.5" in total.message


def test_changed_aid_amount_in_the_mart_fails_the_raw_vs_marts_total(
    warehouse_url: str, conn: psycopg.Connection
) -> None:
    conn.execute(f"update {CANDIDATE}.fct_medical_aid_payment set amount_yuan = 2500 where payment_id = 'LSJZ-003'")

    result = run_gate(warehouse_url)

    # The fact no longer matches the forms, nor the KPI built from the forms.
    assert failed_checks(result) == {
        "raw vs marts: health_medical_aid amount_yuan total",
        "marts vs KPI: health_medical_aid_yuan total",
    }
    failure = next(f for f in result.failures if f.check == "raw vs marts: health_medical_aid amount_yuan total")
    assert failure.relation == f"{CANDIDATE}.fct_medical_aid_payment"
    assert "current_raw_total=11500.5, mart_total=12000.5, difference=500.0" in failure.message


def test_changed_kpi_value_fails_marts_vs_kpi(warehouse_url: str, conn: psycopg.Connection) -> None:
    conn.execute(
        f"update {CANDIDATE}.fct_kpi_value set value = 1000 where kpi_code = 'health_medical_aid_yuan' "
        "and period_grain = 'year' and period_start_date = '2024-01-01' and area_level = 'township'"
    )

    result = run_gate(warehouse_url)

    assert failed_checks(result) == {"marts vs KPI: health_medical_aid_yuan total"}
    (failure,) = result.failures
    assert failure.suite == "fct_kpi_value" and failure.relation == f"{CANDIDATE}.fct_kpi_value"
    assert "kpi_total=11000.5, mart_total=11500.5, difference=-500.0, kpi_year_rows=2" in failure.message


def test_reading_reported_before_it_was_requested_fails(warehouse_url: str, conn: psycopg.Connection) -> None:
    # Report and request times swapped by the clerk, and the model's turnaround following suit.
    conn.execute(
        f"update {CANDIDATE}.fct_remote_reading set reported_at = requested_at - interval '2 hours', "
        "turnaround_hours = -2 where request_id = 'YC2'"
    )

    result = run_gate(warehouse_url)

    assert "contract: reported not before requested" in failed_checks(result)
    failure = next(f for f in result.failures if f.check == "contract: reported not before requested")
    assert failure.relation == f"{CANDIDATE}.fct_remote_reading"
    assert "request_id=YC2" in failure.message


def test_business_case_without_a_credit_code_fails(warehouse_url: str, conn: psycopg.Connection) -> None:
    # Delivered without its USCC; the model passes the blank on.
    conn.execute("update raw.enf_case set subject_uscc = null where case_id = '综执罚〔2023〕001号'")
    conn.execute(f"update {CANDIDATE}.fct_enforcement_case set subject_uscc = null where case_id = '综执罚〔2023〕001号'")

    result = run_gate(warehouse_url)

    assert failed_checks(result) == {"contract: party type matches its credit code"}
    (failure,) = result.failures
    assert "case_id=综执罚〔2023〕001号, subject_type=business, subject_uscc=None" in failure.message


# One way to break each remaining check, as (SQL run against the example warehouse, check that must fail).
BREAKAGES = [
    # an individual delivered with a credit code: the model drops it, the raw row still has it
    ("update raw.enf_case set subject_uscc = '91340121MA2TEST009' where case_id = '综执罚〔2024〕001号'",
     "contract: party type matches its credit code"),
    ("update {s}.fct_inpatient_stay set discharged_date = admitted_date - 2, length_of_stay_days = -2 "
     "where admission_id = 'ZY1'",
     "contract: discharged not before admitted"),
    ("update {s}.fct_inpatient_stay set discharged_date = admitted_date + 400, length_of_stay_days = 400 "
     "where admission_id = 'ZY2'",
     "contract: length of stay range"),
    ("update {s}.fct_remote_reading set reported_at = requested_at + interval '40 days', turnaround_hours = 960 "
     "where request_id = 'YC1'",
     "contract: turnaround hours range"),
    ("update raw.health_medical_aid set amount_yuan = 250000 where payment_id = 'LSJZ-001'; "
     "update {s}.fct_medical_aid_payment set amount_yuan = 250000 where payment_id = 'LSJZ-001'",
     "contract: aid amount range"),
    ("update {s}.fct_enforcement_case set closed_date = opened_date - 1 where case_id = '综执罚〔2023〕001号'",
     "contract: closed not before opened"),
    ("update {s}.fct_enforcement_case set penalty_yuan = -300 where case_id = '综执罚〔2023〕002号'",
     "contract: penalty not negative"),
    ("update {s}.dim_ward set open_bed_count = 30 where ward_id = 'X-501'",
     "contract: ward open beds range"),
    ("insert into {s}.fct_kpi_value values "
     "('health_open_beds', 'year', '2023-01-01', 'village', 'V01', null, null, 3, 3, null)",
     "contract: as-of-period-end KPIs for the township only"),
    ("update {s}.fct_kpi_value set value = 4 where kpi_code = 'enf_squads' and period_grain = 'month'",
     "contract: enf_squads not above dim_squad rows"),
    ("update {s}.fct_enforcement_case set penalty_yuan = 1200 where case_id = '综执罚〔2024〕001号'",
     "raw vs marts: enf_case penalty_yuan total"),
    ("update {s}.fct_kpi_value set value = 16000 where kpi_code = 'enf_penalties_yuan' and period_grain = 'year' "
     "and period_start_date = '2023-01-01'",
     "marts vs KPI: enf_penalties_yuan total"),
    ("delete from {s}.dim_ward where ward_id = 'X-201' and valid_to is null",
     "raw vs marts: health_ward rows per current file"),
    ("delete from {s}.fct_inpatient_stay where admission_id = 'ZY3'",
     "raw vs marts: health_admission rows per current file"),
    ("delete from {s}.fct_expert_round where round_id = 'CF-002'",
     "raw vs marts: health_expert_round rows per current file"),
    ("delete from {s}.fct_remote_reading where request_id = 'YC3'",
     "raw vs marts: health_remote_reading rows per current file"),
    ("update {s}.dim_officer set source_file_id = 999 where officer_id = 'ZF-001'",
     "raw vs marts: dim_officer rows come from current enf_officer_assignment files"),
    ("update {s}.fct_enforcement_case set source_file_id = "
     "(select file_id from audit.load_manifest where file_name = 'cases_v1.csv') where case_id = '综执罚〔2022〕171号'",
     "raw vs marts: fct_enforcement_case rows come from current enf_case files"),
    ("delete from {s}.fct_kpi_value where kpi_code = 'health_open_beds'",
     "contract: every KPI is published"),
    ("update {s}.dim_kpi set department = 'enf' where kpi_code = 'enf_squads'",
     "contract: KPI departments are known"),
]


@pytest.mark.parametrize(("breakage", "check"), BREAKAGES, ids=[check for _, check in BREAKAGES])
def test_each_breakage_fails_its_check(
    warehouse_url: str, conn: psycopg.Connection, breakage: str, check: str
) -> None:
    conn.execute(breakage.format(s=CANDIDATE))

    result = run_gate(warehouse_url)

    assert check in failed_checks(result)
    assert stored_results(conn, result.validation_run_id)[check][1] is False


# Changes no total may notice: rows of superseded files, fines of open cases, KPI rows that are not yearly township totals.
HARMLESS = [
    "insert into raw.health_medical_aid select * from raw.health_medical_aid "
    "where _file_id = (select file_id from audit.load_manifest where file_name = 'aid_v1.xlsx')",
    "update raw.enf_case set penalty_yuan = 60000 where _file_id = "
    "(select file_id from audit.load_manifest where file_name = 'cases_v1.csv')",
    "update raw.enf_case set penalty_yuan = 900 where closed_date is null; "
    "update {s}.fct_enforcement_case set penalty_yuan = 900 where closed_date is null",
    "update {s}.fct_kpi_value set value = 1 where kpi_code = 'health_medical_aid_yuan' "
    "and (breakdown_dimension is not null or area_level = 'village' or period_grain = 'quarter')",
]


@pytest.mark.parametrize("change", HARMLESS)
def test_totals_count_only_current_rows_and_yearly_township_totals(
    warehouse_url: str, conn: psycopg.Connection, change: str
) -> None:
    conn.execute(change.format(s=CANDIDATE))

    assert run_gate(warehouse_url).failures == []


def test_department_that_has_not_delivered_may_have_empty_marts(warehouse_url: str, conn: psycopg.Connection) -> None:
    # Take HR & SS's delivery back entirely: no files, no raw rows, no marts, no KPI values.
    hrss_tables = [spec.table for spec in all_extracts() if spec.department == "hrss"]
    with conn.transaction():
        for table in hrss_tables:
            conn.execute(f"truncate raw.{table}")
        conn.execute("update audit.load_manifest set superseded_by_file_id = null where department = 'hrss'")
        conn.execute("delete from audit.load_manifest where department = 'hrss'")
        for mart in ("dim_training_class", "fct_training_enrolment", "fct_certificate", "fct_job_placement"):
            conn.execute(f"truncate {CANDIDATE}.{mart}")
        conn.execute(f"delete from {CANDIDATE}.fct_kpi_value where kpi_code like 'hrss%'")

    result = run_gate(warehouse_url)

    assert result.failures == []
    stored = stored_results(conn, result.validation_run_id)
    assert stored["contract: fct_certificate has rows"][1] is True


def test_delivered_department_with_an_empty_fact_fails_its_floor(
    warehouse_url: str, conn: psycopg.Connection
) -> None:
    # The health alliance delivered, but no expert round file has arrived: nothing to
    # reconcile, so only the row floor can say that fct_expert_round is empty.
    with conn.transaction():
        conn.execute("truncate raw.health_expert_round")
        conn.execute("delete from audit.load_manifest where extract_name = 'health_expert_round'")
        conn.execute(f"truncate {CANDIDATE}.fct_expert_round")

    result = run_gate(warehouse_url)

    assert failed_checks(result) == {"contract: fct_expert_round has rows"}
    (failure,) = result.failures
    assert "once department 'health' has a current file" in failure.message


def test_every_extract_is_reconciled_with_a_mart_that_has_a_suite() -> None:
    """A new spec or mart without its lineage (or a lineage without a suite) is a gap in the gate."""
    reconciled = {item.spec.name for item in LINEAGES}
    assert reconciled == {spec.name for spec in all_extracts()}
    suites = {module.RELATION.table: module for module in SUITE_MODULES}
    for item in LINEAGES:
        checks = [e.meta["check"] for e in suites[item.table].build_suite(CANDIDATE).expectations]
        assert any(check.startswith(f"raw vs marts: {item.spec.name} rows") for check in checks), item.table
    for total in AMOUNT_TOTALS:
        kpi_checks = [e.meta["check"] for e in suites["fct_kpi_value"].build_suite(CANDIDATE).expectations]
        assert f"marts vs KPI: {total.kpi_code} total" in kpi_checks
