"""A county: `govkpi run` on a generated landing folder of three townships over two years.

The folder is what a county data office receives: county-wide monthly files
with a 乡镇 column for two generated townships, the bundled township's own
files (named by its division code) embedded unchanged, and the county's area
register. The run goes through the real DAGs into a real PostgreSQL; the
tests read what was published and check it against the facts themselves:
township values add up, or dedupe, into the county; the bundled township's
2023 values are exactly those of the sample-only publication; and each
township's BI login reads only its own rows.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg
import pytest
from conftest import govkpi_env, run_govkpi
from psycopg import sql

from govkpi import access
from sample_data.generate_county import generate_county

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

TOWNSHIPS = ("township", "t02", "t03")


def township_key(code: str) -> str:
    return hashlib.md5(code.encode()).hexdigest()


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    landing = tmp_path_factory.mktemp("county") / "landing"
    generate_county(landing, townships=3, years=2)
    return landing


@pytest.fixture(scope="module")
def county_db(county: Path, fresh_db: str, state_dir: Path) -> str:
    env = govkpi_env(fresh_db, state_dir)
    proc = run_govkpi(["run", "--extracts", str(county)], env, timeout=1800)
    assert proc.returncode == 0, f"govkpi run on the county failed:\n{proc.stdout}\n{proc.stderr}"
    assert "whole county (3 townships" in proc.stdout
    return fresh_db


def kpi_rows(url: str, where: str = "true", params: tuple = ()) -> list[dict]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            "select v.*, k.unit from marts.fct_kpi_value v join marts.dim_kpi k using (kpi_code) where " + where, params
        )
        names = [c.name for c in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def test_the_county_run_publishes_county_township_and_village_values(county_db):
    rows = kpi_rows(county_db, "period_grain = 'year'")
    levels = {(r["area_level"], r["area_code"]) for r in rows}
    assert ("county", "county") in levels
    assert {code for level, code in levels if level == "township"} == set(TOWNSHIPS)
    with psycopg.connect(county_db) as conn:
        village_townships = {
            t for (t,) in conn.execute(
                "select distinct a.township_code from marts.fct_kpi_value v "
                "join marts.dim_area a on a.area_code = v.area_code where v.area_level = 'village'"
            ).fetchall()
        }
    assert village_townships == set(TOWNSHIPS)
    years = {r["period_start_date"].year for r in rows if r["area_level"] == "county"}
    assert years == {2022, 2023}


def test_township_values_add_up_or_dedupe_into_the_county(county_db):
    rows = kpi_rows(county_db, "period_grain = 'year' and area_level in ('county', 'township') and breakdown_member is null")
    by = {(r["kpi_code"], r["period_start_date"].year, r["area_code"]): r for r in rows}
    checked = 0
    for year in (2022, 2023):
        # sums and stocks of things that belong to one township add up exactly
        for code in ("health_medical_aid_yuan", "health_open_beds", "health_wards", "enf_officers",
                     "enf_squads", "health_admissions", "enf_cases_opened", "hrss_certificates", "hrss_training_classes"):
            parts = [by[(code, year, t)]["value"] for t in TOWNSHIPS if (code, year, t) in by]
            assert parts, (code, year)
            assert by[(code, year, "county")]["value"] == sum(parts), (code, year, parts)
            checked += 1
        # ratios of such things: the county's numerator and denominator are the townships' sums
        for code in ("enf_case_closure_rate_pct", "health_bed_occupancy_rate_pct"):
            county_row = by[(code, year, "county")]
            assert county_row["numerator"] == sum(by[(code, year, t)]["numerator"] for t in TOWNSHIPS if (code, year, t) in by)
            assert county_row["denominator"] == sum(by[(code, year, t)]["denominator"] for t in TOWNSHIPS if (code, year, t) in by)
        # people are the county's: one trained in two townships counts once in it
        trainees = by[("hrss_trainees", year, "county")]["value"]
        assert trainees < sum(by[("hrss_trainees", year, t)]["value"] for t in TOWNSHIPS if ("hrss_trainees", year, t) in by)
    assert checked == 18
    with psycopg.connect(county_db) as conn:
        for year in (2022, 2023):
            people = conn.execute(
                "select count(distinct person_key) from marts.fct_training_enrolment "
                "where enrolled_date >= make_date(%s, 1, 1) and enrolled_date < make_date(%s + 1, 1, 1)",
                (year, year),
            ).fetchone()[0]
            assert by[("hrss_trainees", year, "county")]["value"] == people
            domains = conn.execute(
                "select count(distinct d.enforcement_domain_code) from marts.fct_enforcement_case c "
                "join marts.dim_enforcement_domain d using (enforcement_domain_key) "
                "where c.opened_date >= make_date(%s, 1, 1) and c.opened_date < make_date(%s + 1, 1, 1)",
                (year, year),
            ).fetchone()[0]
            assert by[("enf_domains", year, "county")]["value"] == domains


def test_the_bundled_township_keeps_every_2023_value_of_the_sample(county_db, published_db):
    """Inside the county, the bundled township and its villages publish exactly what the sample alone publishes."""
    query = (
        "select v.kpi_code, v.period_grain, v.period_start_date, v.area_level, v.area_code, "
        "v.breakdown_dimension, v.breakdown_member, v.value, v.numerator, v.denominator "
        "from marts.fct_kpi_value v join marts.dim_area a on a.area_code = v.area_code "
        "where a.township_code = 'township' and v.period_start_date >= '2023-01-01' and v.period_start_date < '2024-01-01'"
    )
    with psycopg.connect(published_db) as conn:
        sample = set(conn.execute(query).fetchall())
    with psycopg.connect(county_db) as conn:
        inside = set(conn.execute(query).fetchall())
    assert len(sample) > 1000
    assert inside == sample
    seed = {(r[0], r[6]): r[7] for r in inside if r[1] == "year" and r[3] == "township"}
    assert seed[("hrss_training_classes", None)] == 12
    assert seed[("hrss_trainees", None)] == 571
    assert seed[("hrss_certificates", None)] == 524
    assert seed[("hrss_trainees_placed", "electrician")] == 28
    assert seed[("hrss_trainees_placed", "agronomy")] == 185
    assert (seed[("health_open_beds", None)], seed[("health_wards", None)]) == (95, 48)
    assert (seed[("enf_officers", None)], seed[("enf_squads", None)], seed[("enf_domains", None)]) == (32, 3, 4)


def test_each_township_login_reads_only_its_own_rows_and_the_county_login_reads_all(county_db):
    readers = {"bi_township": "township", "bi_t02": "t02", "bi_county": "county"}
    with psycopg.connect(county_db, autocommit=True) as conn:
        for role, area in readers.items():
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("create role {} login in role govkpi_bi").format(sql.Identifier(role)))
            access.grant(conn, role, area)
        secured = [
            t for (t,) in conn.execute(
                "select table_name from information_schema.columns where table_schema = 'marts' "
                "and column_name = 'township_key' order by 1"
            ).fetchall()
        ]
        assert {"fct_inpatient_stay", "fct_enforcement_case", "dim_ward", "dim_officer", "fct_training_enrolment"} <= set(secured)

        def counts(role: str | None, table: str) -> tuple[int, dict[str, int]]:
            if role:
                conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
            try:
                by_township = dict(
                    conn.execute(
                        sql.SQL("select township_key, count(*) from marts.{} group by 1").format(sql.Identifier(table))
                    ).fetchall()
                )
            finally:
                conn.execute("reset role")
            return sum(by_township.values()), by_township

        for table in secured:
            total, owner = counts(None, table)
            assert set(owner) == {township_key(t) for t in TOWNSHIPS}, table
            for role, area in (("bi_township", "township"), ("bi_t02", "t02")):
                _, seen = counts(role, table)
                # its own township's rows, all of them; nothing of another
                assert seen == {township_key(area): owner[township_key(area)]}, (table, role)
            assert counts("bi_county", table) == (total, owner), table

        def areas_seen(role: str | None, table: str = "fct_kpi_value") -> set[tuple[str, str]]:
            if role:
                conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
            try:
                return set(
                    conn.execute(
                        sql.SQL(
                            "select distinct v.area_level, coalesce(a.township_code, v.area_code) "
                            "from marts.{} v left join marts.dim_area a on a.area_code = v.area_code"
                        ).format(sql.Identifier(table))
                    ).fetchall()
                )
            finally:
                conn.execute("reset role")

        # the KPI values and what they are compared with: by area
        for table in ("fct_kpi_value", "fct_kpi_comparison"):
            assert areas_seen("bi_township", table) == {("township", "township"), ("village", "township")}, table
            assert areas_seen("bi_t02", table) == {("township", "t02"), ("village", "t02")}, table
            assert areas_seen("bi_county", table) == areas_seen(None, table), table
            assert ("county", "county") in areas_seen("bi_county", table), table
        # the bundled targets are the bundled township's and the county's
        assert areas_seen(None, "fct_kpi_status") == {("township", "township"), ("county", "county")}
        assert areas_seen("bi_township", "fct_kpi_status") == {("township", "township")}
        assert areas_seen("bi_t02", "fct_kpi_status") == set()
        assert areas_seen("bi_county", "fct_kpi_status") == areas_seen(None, "fct_kpi_status")
        conn.execute("set role bi_t02")
        try:
            other = conn.execute(
                "select count(*) from marts.fct_inpatient_stay where township_key = %s", (township_key("township"),)
            ).fetchone()[0]
            assert other == 0, "a township's login cannot read another township's rows, even by asking for them"
            assert conn.execute("select count(*) from marts.dim_kpi").fetchone()[0] == 25, "the catalogue is shared"
        finally:
            conn.execute("reset role")


def test_townships_are_ranked_in_the_county_by_their_published_values(county_db):
    """fct_kpi_comparison over the county's real values: each township's rank is its place by value (ties share)."""
    with psycopg.connect(county_db) as conn:
        rows = conn.execute(
            "select c.kpi_code, c.period_start_date, c.area_code, c.value, c.rank_in_parent, c.ranked_areas, k.direction "
            "from marts.fct_kpi_comparison c join marts.dim_kpi k using (kpi_code) "
            "where c.area_level = 'township' and c.period_grain = 'year' and c.breakdown_dimension is null"
        ).fetchall()
        county = conn.execute(
            "select count(*) from marts.fct_kpi_comparison where area_level = 'county' and rank_in_parent is not null"
        ).fetchone()[0]
    assert county == 0, "the county has no siblings to be ranked among"
    groups: dict[tuple, list] = {}
    for kpi, year, area, value, rank, ranked, direction in rows:
        groups.setdefault((kpi, year, direction), []).append((area, value, rank, ranked))
    ranked_groups = 0
    for (kpi, year, direction), members in groups.items():
        valued = [m for m in members if m[1] is not None]
        for area, value, rank, ranked in members:
            if value is None:
                assert rank is None, (kpi, year, area)
                continue
            better = [v for _, v, _, _ in valued if (v < value if direction == "lower_is_better" else v > value)]
            assert rank == len(better) + 1, (kpi, year, area, value, rank)
            assert ranked == len(valued), (kpi, year, area)
        ranked_groups += len(valued) > 1
    assert ranked_groups >= 20, "most KPIs have values for several townships in a year"
