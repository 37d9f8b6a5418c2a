"""The whole pipeline, as a user runs it: `govkpi run` drives both DAGs with Airflow.

One fresh database for the module; the sample extracts are run twice, and
what was published is checked against the seed document's figures, for
duplicates, for personal data in clear, and for what BI may read.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import psycopg
import pytest
from conftest import ROOT, SAMPLE_DIR, govkpi_env, resident_ids_in, run_govkpi, township_year
from psycopg import sql

from govkpi import access

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

RAW_TABLES = ("hrss_training_class", "hrss_enrolment", "hrss_certificate", "hrss_placement")


def kpi_json(env: dict[str, str], *args: str) -> list[dict]:
    proc = run_govkpi(["kpi", "--json", *args], env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def table_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        counts = {f"raw.{t}": conn.execute(sql.SQL("select count(*) from raw.{}").format(sql.Identifier(t))).fetchone()[0] for t in RAW_TABLES}
        counts["audit.load_manifest"] = conn.execute("select count(*) from audit.load_manifest").fetchone()[0]
        counts["audit.quarantine"] = conn.execute("select count(*) from audit.quarantine").fetchone()[0]
        for (table,) in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
        ).fetchall():
            counts[f"marts.{table}"] = conn.execute(sql.SQL("select count(*) from marts.{}").format(sql.Identifier(table))).fetchone()[0]
    return counts


@pytest.fixture(scope="module")
def env(published_db: str, state_dir: Path) -> dict[str, str]:
    return govkpi_env(published_db, state_dir)


@pytest.fixture(scope="module")
def first_run(sample_publication, env: dict[str, str], published_db: str):
    """The first run on an empty warehouse: its output, and what it published (read from this module's copy)."""
    return sample_publication.proc, kpi_json(env, "--year", "2023"), table_counts(published_db)


@pytest.fixture(scope="module")
def second_run(first_run, env: dict[str, str], published_db: str):
    proc = run_govkpi(["run", "--extracts", str(SAMPLE_DIR)], env)
    assert proc.returncode == 0, f"second govkpi run failed:\n{proc.stdout}\n{proc.stderr}"
    return proc, kpi_json(env, "--year", "2023"), table_counts(published_db)


def test_run_ends_with_a_readable_kpi_summary(first_run):
    proc, _, _ = first_run
    out = proc.stdout
    assert "govkpi_ingest_hrss: success" in out and "govkpi_warehouse: success" in out
    # one delivery a month: the roster's months add up to the year's 590 enrolments
    assert "培训学员花名册_2023-03.csv [2023-03] loaded: 120 rows read, 120 loaded, 0 rejected" in out
    roster_rows = [int(m) for m in re.findall(r"培训学员花名册_2023-\d\d\.csv \[2023-\d\d\] loaded: (\d+) rows read, \1 loaded, 0 rejected", out)]
    assert len(roster_rows) == 8 and sum(roster_rows) == 590
    assert "Published KPIs, whole township, 2023" in out
    assert "91.77" in out and "(524 / 571)" in out
    for department in ("[hrss]", "[health]", "[enforcement]"):
        assert department in out


def test_published_2023_figures_match_the_seed_document(first_run):
    _, rows, _ = first_run
    expected = {
        ("hrss_training_classes", None): 12,
        ("hrss_trainees", None): 571,
        ("hrss_certificates", None): 524,
        ("hrss_certificate_rate_pct", None): 91.77,
        ("hrss_trainees_placed", "electrician"): 28,
        ("hrss_trainees_placed", "agronomy"): 185,
    }
    for (code, member), value in expected.items():
        row = township_year(rows, code, member)
        assert row["value"] == value, (code, member, row)
        assert row["period_start_date"] == "2023-01-01"
        if member:
            assert row["breakdown_dimension"] == "trade"
    rate = township_year(rows, "hrss_certificate_rate_pct")
    assert (rate["numerator"], rate["denominator"]) == (524, 571)


def test_health_and_enforcement_figures_match_the_seed_document(first_run):
    _, rows, _ = first_run
    for code, value in {
        "health_open_beds": 95,
        "health_wards": 48,
        "enf_officers": 32,
        "enf_squads": 3,
        "enf_domains": 4,
    }.items():
        assert township_year(rows, code)["value"] == value, code

    def month(code: str, start: str) -> float:
        [row] = [
            r for r in rows
            if r["kpi_code"] == code and r["period_grain"] == "month" and r["period_start_date"] == start
            and r["area_level"] == "township" and r["breakdown_member"] is None
        ]
        return row["value"]

    # The new site opened in June 2023; the old site's register is May's figure.
    assert month("health_open_beds", "2023-06-01") == 95
    assert month("health_wards", "2023-06-01") == 48
    assert month("health_open_beds", "2023-05-01") == 42
    assert month("health_wards", "2023-05-01") == 20


def test_every_defined_kpi_is_published(first_run, published_db):
    _, rows, _ = first_run
    with psycopg.connect(published_db) as conn:
        defined = {r[0] for r in conn.execute("select kpi_code from marts.dim_kpi").fetchall()}
    assert len(defined) == 25
    assert defined == {r["kpi_code"] for r in rows}


def test_every_kpi_of_2023_has_a_published_target_and_status(first_run, published_db):
    """fct_kpi_status: the bundled targets (seeds/kpi_targets.csv) against the published 2023 values."""
    with psycopg.connect(published_db) as conn:
        rows = conn.execute(
            "select s.kpi_code, s.value, v.value, s.target_value, s.status, s.kpi_version, s.target_version "
            "from marts.fct_kpi_status s left join marts.fct_kpi_value v "
            "on v.kpi_code = s.kpi_code and v.period_grain = s.period_grain and v.period_start_date = s.period_start_date "
            "and v.area_code = s.area_code and v.breakdown_dimension is null "
            "where s.area_code = 'township' and s.period_grain = 'year' and s.period_start_date = '2023-01-01'"
        ).fetchall()
        defined = {r[0] for r in conn.execute("select kpi_code from marts.dim_kpi").fetchall()}
    status = {code: (value, target, state, kpi_version, target_version) for code, value, published, target, state, kpi_version, target_version in rows}
    assert set(status) == defined and len(rows) == 25
    for code, value, published, *_ in rows:
        assert value == published is not None, code
    assert all(state in ("green", "amber", "red") for _, _, state, _, _ in status.values())
    assert all(kpi_version == 1 for *_, kpi_version, _ in status.values())
    # the revised target (version 2) is the one used; both directions; the seed's figures
    assert status["hrss_trainees"] == (571, 560, "green", 1, 2)
    assert status["hrss_certificates"][:3] == (524, 550, "amber")
    assert status["hrss_trainees_placed"][2] == "red"
    assert status["enf_median_days_to_close"][1:3] == (30, "red"), "lower is better: 46.5 days against 30"
    assert status["health_remote_reading_turnaround_hours"][1:3] == (2, "green"), "lower is better: 1.48 h against 2"


def test_the_xlsx_report_shows_the_published_figures(first_run, env, published_db, tmp_path):
    """`govkpi report --format xlsx`: opened with openpyxl, every figure checked against marts."""
    import openpyxl

    out = tmp_path / "report.xlsx"
    proc = run_govkpi(["report", "--year", "2023", "--area", "township", "--format", "xlsx", "--out", str(out)], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Wrote {out}" in proc.stdout and "25 KPIs" in proc.stdout
    with psycopg.connect(published_db) as conn:
        published = {
            name_zh: (value, target, status, unit)
            for name_zh, value, target, status, unit in conn.execute(
                "select k.name_zh, v.value, s.target_value, s.status, k.unit from marts.dim_kpi k "
                "join marts.fct_kpi_value v on v.kpi_code = k.kpi_code and v.period_grain = 'year' "
                "and v.period_start_date = '2023-01-01' and v.area_code = 'township' and v.breakdown_dimension is null "
                "left join marts.fct_kpi_status s on s.kpi_code = k.kpi_code and s.area_code = 'township' "
                "and s.period_grain = 'year' and s.period_start_date = '2023-01-01'"
            ).fetchall()
        }
        publication = conn.execute("select max(publication_id) from audit.publication").fetchone()[0]
    workbook = openpyxl.load_workbook(out)
    assert workbook.sheetnames == ["说明 About", "人社 hrss", "医共体 health", "综合执法 enforcement"]
    assert workbook["说明 About"]["B5"].value == publication
    seen = {}
    for name in workbook.sheetnames[1:]:
        sheet = workbook[name]
        assert sheet.freeze_panes == "B3", name
        assert sheet["A2"].value == "指标\nKPI" and sheet["D2"].value == "数值\nValue"
        for row in sheet.iter_rows(min_row=3):
            seen[row[0].value] = row
    assert set(seen) == set(published)
    for name_zh, (value, target, status, unit) in published.items():
        row = seen[name_zh]
        assert row[3].value == pytest.approx(float(value)), name_zh
        assert row[3].number_format == {"count": "#,##0", "person": "#,##0", "yuan": "#,##0.00"}.get(unit, "0.00"), name_zh
        assert row[4].value == pytest.approx(float(target)), name_zh
        assert row[6].value.endswith(status), name_zh
        assert row[13].value == f"发布 publication {publication}; govkpi lineage " + row[13].value.rsplit(" ", 1)[1]
    # the seed document's figures, in the sheet a clerk forwards
    assert (seen["技能培训班次"][3].value, seen["参加培训人数"][3].value, seen["发放技能证书数"][3].value) == (12, 571, 524)
    unknown = run_govkpi(["report", "--year", "2023", "--area", "nowhere", "--out", str(tmp_path / "x.xlsx")], env)
    assert unknown.returncode != 0 and "no area 'nowhere'" in unknown.stdout + unknown.stderr


def test_a_run_with_another_key_is_refused_before_airflow_starts(first_run, env, published_db):
    """docs/adr/0030: the warehouse keeps its key's fingerprint; `govkpi run` refuses another key at once."""
    before = table_counts(published_db)
    proc = run_govkpi(["run", "--extracts", str(SAMPLE_DIR)], {**env, "GOVKPI_PSEUDONYM_KEY": "another-key-" + "y" * 40})
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "GOVKPI_PSEUDONYM_KEY is not the key this warehouse's pseudonyms were made with" in out
    assert "preparing Airflow" not in out
    assert table_counts(published_db) == before


def test_json_rows_have_exactly_the_contract_columns(first_run):
    _, rows, _ = first_run
    columns = [
        "kpi_code", "period_grain", "period_start_date", "area_level", "area_code",
        "breakdown_dimension", "breakdown_member", "value", "numerator", "denominator",
    ]
    assert rows and all(list(r) == columns for r in rows)
    assert {r["period_grain"] for r in rows} == {"month", "quarter", "year"}
    assert {r["area_level"] for r in rows} == {"village", "township", "county"}


def test_distinct_trainees_are_not_summed_across_grains(first_run):
    _, rows, _ = first_run
    months = [r["value"] for r in rows if r["kpi_code"] == "hrss_trainees" and r["period_grain"] == "month" and r["area_level"] == "township"]
    villages = [r["value"] for r in rows if r["kpi_code"] == "hrss_trainees" and r["period_grain"] == "year" and r["area_level"] == "village"]
    year = township_year(rows, "hrss_trainees")["value"]
    # People enrolled in two classes in different months (or villages) are one
    # trainee for the year: the sum over parts exceeds the distinct total.
    assert sum(months) > year == 571
    assert sum(villages) >= year


def test_second_run_publishes_the_same_values_with_no_duplicates(first_run, second_run, published_db):
    _, rows1, counts1 = first_run
    proc, rows2, counts2 = second_run
    assert rows2 == rows1
    assert counts2 == counts1
    assert "already_loaded" not in proc.stderr
    with psycopg.connect(published_db) as conn:
        assert conn.execute("select count(*) from audit.publication").fetchone()[0] == 2
        for (schema, table) in conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw', 'marts', 'audit') and table_type = 'BASE TABLE'"
        ).fetchall():
            ident = sql.Identifier(schema, table)
            total, distinct = conn.execute(
                sql.SQL("select count(*), count(distinct t) from {} t").format(ident)
            ).fetchone()
            assert total == distinct, f"{schema}.{table} has duplicate rows"


def test_a_second_build_of_the_same_code_skips_the_unit_tests(second_run, state_dir):
    """Unit tests read only fixtures: once they passed on this code, the next build runs the data tests alone (ADR 0025)."""
    from govkpi.dbt_session import UNIT_TESTS_PASSED, project_code_sha256

    target = state_dir / "dbt" / "target"
    results = json.loads((target / "run_results.json").read_text())["results"]
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert "test" in kinds and "model" in kinds
    assert "unit_test" not in kinds, "the unit tests ran again on unchanged code"
    passed = json.loads((target / UNIT_TESTS_PASSED).read_text())
    assert passed["code_sha256"] == project_code_sha256(ROOT / "dbt_project")
    assert passed["unit_tests"] >= 30 and passed["invocation_id"]


def test_no_resident_id_in_clear_anywhere(second_run, published_db, state_dir):
    sample_ids = set()
    for path in sorted(SAMPLE_DIR.glob("hrss/2023-*/培训学员花名册_2023-*.csv")):
        for line in path.read_bytes().decode("gb18030").splitlines():
            sample_ids.update(m.upper() for m in resident_ids_in(line))
    assert len(sample_ids) == 571

    def sample_ids_in(text: str) -> set[str]:
        """The sample's ID numbers anywhere in `text`, inside longer strings too, in either case."""
        # Every 18-character window of 17 digits and a check character, overlapping.
        return {m.upper() for m in re.findall(r"(?=(\d{17}[\dXx]))", text)} & sample_ids

    found: list[str] = []
    with psycopg.connect(published_db) as conn:
        columns = conn.execute(
            """
            select c.table_schema, c.table_name, c.column_name
            from information_schema.columns c
            join information_schema.tables t using (table_schema, table_name)
            where c.table_schema not in ('pg_catalog', 'information_schema')
              and c.data_type in ('text', 'character varying', 'character', 'json', 'jsonb')
            """
        ).fetchall()
        assert len(columns) > 20
        for schema, table, column in columns:
            values = conn.execute(
                sql.SQL("select {}::text from {} where {} is not null").format(
                    sql.Identifier(column), sql.Identifier(schema, table), sql.Identifier(column)
                )
            ).fetchall()
            for (value,) in values:
                if resident_ids_in(value) or sample_ids_in(value):
                    found.append(f"{schema}.{table}.{column}")
                    break
    assert not found, f"resident IDs in clear in: {found}"

    # Airflow's logs and XCom (task return values) are just as much records.
    texts = [p.read_text(errors="replace") for p in state_dir.rglob("*.log")]
    texts += [p.read_text(errors="replace") for p in (state_dir / "airflow" / "logs").rglob("*") if p.is_file()]
    # OpenLineage events carry SQL, schemas and row counts, never rows.
    lineage = list((state_dir / "openlineage").glob("*.json"))
    assert lineage
    texts += [p.read_text(errors="replace") for p in lineage]
    with sqlite3.connect(state_dir / "airflow" / "airflow.db") as meta:
        texts += [str(v) for (v,) in meta.execute("select value from xcom").fetchall()]
    assert texts
    leaked = sorted(set().union(*(sample_ids_in(t) for t in texts)))
    assert not leaked, f"{len(leaked)} sample ID numbers appear in Airflow logs, XCom or OpenLineage events"


def test_bi_role_reads_marts_and_nothing_else(second_run, published_db):
    with psycopg.connect(published_db, autocommit=True) as conn:
        tables = conn.execute(
            "select table_schema, min(table_name) from information_schema.tables "
            "where table_schema not in ('pg_catalog', 'information_schema') group by table_schema"
        ).fetchall()
        schemas = {s for s, _ in tables}
        assert {"marts", "raw", "audit", "staging"} <= schemas
        # a BI login reads the rows of the areas it was granted (govkpi.access):
        # one granted the county reads them all, one granted nothing no township rows
        for reader in ("bi_county_reader", "bi_reader_without_grant"):
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(reader)))
            conn.execute(sql.SQL("create role {} login in role govkpi_bi").format(sql.Identifier(reader)))
        access.grant(conn, "bi_county_reader", "county")
        conn.execute("set role bi_reader_without_grant")
        assert conn.execute("select count(*) from marts.fct_kpi_value").fetchone()[0] == 0
        assert conn.execute("select count(*) from marts.dim_kpi").fetchone()[0] > 0, "the catalogue is shared"
        conn.execute("reset role")
        conn.execute("set role bi_county_reader")
        for schema, table in tables:
            query = sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))
            if schema == "marts":
                assert conn.execute(query).fetchone()[0] >= 0
                continue
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(query)
        assert conn.execute("select count(*) from marts.fct_kpi_value").fetchone()[0] > 0
        conn.execute("reset role")
        everything = conn.execute("select count(*) from marts.fct_kpi_value").fetchone()[0]
        conn.execute("set role bi_county_reader")
        assert conn.execute("select count(*) from marts.fct_kpi_value").fetchone()[0] == everything
        conn.execute("reset role")
