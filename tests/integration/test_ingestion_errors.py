"""Bad input gets a clear error naming file, row and column, and loses nothing.

These run the real loader against a real PostgreSQL (no Airflow needed):
each scenario is a department delivery the way a clerk might send it.
"""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import psycopg
import pytest
from conftest import ROOT, SAMPLE_DIR, TEST_KEY, resident_ids_in, run_govkpi

from ingestion.areas import AreaRegister
from ingestion.errors import ExtractError
from ingestion.loader import BatchRefused, discover, load_batch
from ingestion.pii import Pseudonymiser
from ingestion.specs import department

pytestmark = pytest.mark.integration

HRSS = department("hrss")
AREAS = AreaRegister.from_landing(ROOT / "sample_data")
ROSTER = SAMPLE_DIR / "hrss" / "2023-03" / "培训学员花名册_2023-03.csv"


def roster_lines(n: int = 20) -> list[str]:
    """Title line, header line and the first n data lines of the sample roster."""
    text = ROSTER.read_bytes().decode("gb18030")
    return text.split("\r\n")[: n + 2]


def write_roster(folder: Path, lines: list[str], name: str = "培训学员花名册_2023.csv") -> Path:
    """A landing folder holding a roster file and, as every landing folder does, the area register."""
    register = folder / "register" / "areas.csv"
    register.parent.mkdir(parents=True, exist_ok=True)
    register.write_bytes((ROOT / "sample_data" / "register" / "areas.csv").read_bytes())
    target = folder / "hrss" / "2023"
    target.mkdir(parents=True, exist_ok=True)
    path = target / name
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    return path


def load(conn: psycopg.Connection, landing: Path):
    return load_batch(conn, HRSS, discover(landing, HRSS), Pseudonymiser(TEST_KEY.encode()), areas=AREAS)


@pytest.fixture(scope="module")
def conn(fresh_db: str):
    with psycopg.connect(fresh_db, autocommit=True) as connection:
        yield connection


def quarantine_for(conn: psycopg.Connection, file_id: int) -> list[tuple]:
    return conn.execute(
        "select row_number, column_name, reason, raw_record from audit.quarantine where file_id = %s order by row_number",
        (file_id,),
    ).fetchall()


def raw_rows(conn: psycopg.Connection, file_id: int) -> int:
    return conn.execute("select count(*) from raw.hrss_enrolment where _file_id = %s", (file_id,)).fetchone()[0]


def set_field(line: str, index: int, value: str) -> str:
    cells = line.split(",")
    cells[index] = value
    return ",".join(cells)


def test_undecodable_bytes_quarantine_that_row_and_keep_the_rest(conn, tmp_path):
    lines = roster_lines(10)
    path = write_roster(tmp_path, lines)
    data = path.read_bytes()
    # Corrupt the village cell of data row 4 (file row 6): 0xFF is invalid in GB18030.
    row6 = lines[5].encode("gb18030")
    village = lines[5].split(",")[5].encode("gb18030")
    broken_row = row6.replace(village, b"\xff\xfe" + village[2:], 1)
    path.write_bytes(data.replace(row6, broken_row, 1))

    outcome = load(conn, tmp_path)

    [file] = outcome.files
    assert (file.rows_read, file.rows_loaded, file.rows_rejected) == (10, 9, 1)
    assert raw_rows(conn, file.file_id) == 9
    [(row, column, reason, _)] = quarantine_for(conn, file.file_id)
    assert (row, column) == (6, "所在村(社区)")
    assert "not valid in the file's encoding" in reason
    assert any("row 6" in line and "所在村(社区)" in line and path.name in line for line in outcome.rejects)


def test_unknown_village_quarantines_that_row_naming_the_known_ones_and_keeps_the_rest(conn, tmp_path):
    lines = roster_lines(10)
    assert lines[1].split(",")[5] == "所在村(社区)"
    lines[6] = set_field(lines[6], 5, "东风村")  # file row 7: a village the register does not have
    path = write_roster(tmp_path, lines)

    outcome = load(conn, tmp_path)

    [file] = outcome.files
    assert (file.rows_read, file.rows_loaded, file.rows_rejected) == (10, 9, 1)
    assert raw_rows(conn, file.file_id) == 9
    [(row, column, reason, record)] = quarantine_for(conn, file.file_id)
    assert (row, column) == (7, "所在村(社区)")
    assert "unknown village '东风村'" in reason and "register/areas.csv" in reason
    assert all(name in reason for name in AREAS.villages["township"]) and "杏花村" in reason
    assert record["所在村(社区)"] == "东风村"
    assert any(f"file {path.name}, row 7, column '所在村(社区)'" in line for line in outcome.rejects)


def test_missing_required_column_refuses_the_whole_batch(conn, tmp_path):
    lines = [",".join(c for i, c in enumerate(line.split(",")) if i != 7) for line in roster_lines(5)]
    assert "报名日期" not in lines[1]
    write_roster(tmp_path, lines)
    # A second, good file in the same delivery must not be loaded either.
    good = tmp_path / "hrss" / "2023" / "技能证书发放名册_2023.csv"
    good.write_bytes((SAMPLE_DIR / "hrss" / "2023-04" / "技能证书发放名册_2023-04.csv").read_bytes())
    before = conn.execute("select count(*) from raw.hrss_certificate").fetchone()[0] if _has_raw(conn) else 0

    with pytest.raises(BatchRefused) as refused:
        load(conn, tmp_path)

    error = refused.value.error
    assert isinstance(error, ExtractError)
    assert error.file.endswith("培训学员花名册_2023.csv") and error.row == 2 and error.column == "报名日期"
    message = str(refused.value)
    assert "培训学员花名册_2023.csv" in message and "row 2" in message and "报名日期" in message
    assert conn.execute("select count(*) from raw.hrss_certificate").fetchone()[0] == before
    status, rows_loaded, note = conn.execute(
        "select status, rows_loaded, message from audit.load_manifest where file_id = "
        "(select max(file_id) from audit.load_manifest)"
    ).fetchone()
    assert status == "refused" and rows_loaded == 0 and "报名日期" in note
    batch_status = conn.execute("select status from audit.load_batch where batch_id = %s", (refused.value.batch_id,)).fetchone()[0]
    assert batch_status == "refused"
    [(row, column, reason)] = conn.execute(
        "select row_number, column_name, reason from audit.quarantine where batch_id = %s", (refused.value.batch_id,)
    ).fetchall()
    assert (row, column) == (2, "报名日期") and "required column missing" in reason


def _has_raw(conn: psycopg.Connection) -> bool:
    return conn.execute("select to_regclass('raw.hrss_certificate') is not null").fetchone()[0]


def test_wrong_check_digit_is_quarantined_without_the_number(conn, tmp_path):
    lines = roster_lines(12)
    original = lines[4].split(",")[3]
    wrong = original[:-1] + ("1" if original[-1] != "1" else "2")
    lines[4] = set_field(lines[4], 3, wrong)
    path = write_roster(tmp_path, lines)

    outcome = load(conn, tmp_path)

    [file] = outcome.files
    assert (file.rows_loaded, file.rows_rejected) == (11, 1)
    [(row, column, reason, record)] = quarantine_for(conn, file.file_id)
    assert (row, column) == (5, "公民身份号码") and "check digit is wrong" in reason
    assert wrong not in json.dumps(record, ensure_ascii=False) and original not in json.dumps(record, ensure_ascii=False)
    assert f"file {path.name}, row 5, column '公民身份号码'" in outcome.rejects[0]


def test_id_mangled_by_excel_into_scientific_notation(conn, tmp_path):
    source = openpyxl.load_workbook(SAMPLE_DIR / "hrss" / "2023-04" / "就业跟踪台账_2023-04.xlsx")
    sheet = source.active
    header = [c.value for c in sheet[2]]
    id_col = header.index("公民身份号码") + 1
    # Row 5 holds the ID as a number, the way Excel stores it when the column
    # is not formatted as text: 18 digits do not fit a double.
    number = int(sheet.cell(row=5, column=id_col).value.upper().replace("X", "0"))
    sheet.cell(row=5, column=id_col).value = float(number)
    for row in range(12, sheet.max_row + 1):
        for col in range(1, sheet.max_column + 1):
            sheet.cell(row=row, column=col).value = None
    target = tmp_path / "hrss" / "2023"
    target.mkdir(parents=True)
    source.save(target / "就业跟踪台账_2023.xlsx")

    outcome = load(conn, tmp_path)

    [file] = outcome.files
    assert (file.rows_read, file.rows_loaded, file.rows_rejected) == (9, 8, 1)
    [(row, column, reason, _)] = quarantine_for(conn, file.file_id)
    assert (row, column) == (5, "公民身份号码")
    assert "scientific notation" in reason and "format the column as text" in reason


def test_redelivered_file_is_recognised_and_not_loaded_twice(conn, tmp_path):
    write_roster(tmp_path, roster_lines(15), name="培训学员花名册_2023_再次发送.csv")
    first = load(conn, tmp_path)
    [loaded] = first.files
    rows_before = conn.execute("select count(*) from raw.hrss_enrolment").fetchone()[0]

    again = load(conn, tmp_path)

    [file] = again.files
    assert again.status == "nothing_new" and file.status == "already_loaded"
    assert file.file_name == "培训学员花名册_2023_再次发送.csv"
    assert f"identical to file {loaded.file_id}" in file.message and "not loaded again" in file.message
    assert conn.execute("select count(*) from raw.hrss_enrolment").fetchone()[0] == rows_before


def test_quarantine_and_raw_hold_no_resident_id_in_clear(conn):
    for table, columns in (("audit.quarantine", "raw_record::text"), ("raw.hrss_enrolment", "person_id")):
        texts = [r[0] for r in conn.execute(f"select {columns} from {table}").fetchall() if r[0]]
        assert texts, f"{table} is empty: the earlier tests should have filled it"
        assert not [t for t in texts if resident_ids_in(t)], f"resident ID in clear in {table}"


def test_invalid_credit_code_is_quarantined_and_the_rest_loaded(conn, tmp_path):
    from ingestion.specs import department as department_spec

    enforcement = department_spec("enforcement")
    source = SAMPLE_DIR / "enforcement" / "2023-05" / "案件登记台账_2023-05.csv"
    lines = source.read_bytes().decode("gb18030").split("\r\n")
    header = lines[1].split(",")
    uscc_col = header.index("统一社会信用代码")
    business_rows = [i for i, line in enumerate(lines[2:], start=2) if line and line.split(",")[uscc_col]]
    target_index = business_rows[0]
    cells = lines[target_index].split(",")
    code = cells[uscc_col]
    cells[uscc_col] = code[:-1] + ("0" if code[-1] != "0" else "1")
    lines[target_index] = ",".join(cells)
    folder = tmp_path / "enforcement" / "2023"
    folder.mkdir(parents=True)
    path = folder / "案件登记台账_2023.csv"
    path.write_bytes("\r\n".join(lines).encode("gb18030"))

    outcome = load_batch(conn, enforcement, discover(tmp_path, enforcement), Pseudonymiser(TEST_KEY.encode()), areas=AREAS)

    [file] = outcome.files
    data_rows = sum(1 for line in lines[2:] if line.strip())
    assert (file.rows_read, file.rows_loaded, file.rows_rejected) == (data_rows, data_rows - 1, 1)
    [(row, column, reason, record)] = quarantine_for(conn, file.file_id)
    assert row == target_index + 1 and column == "统一社会信用代码"
    assert "Unified Social Credit Code check character is wrong" in reason
    assert record["统一社会信用代码"] == cells[uscc_col]  # a business code is not personal data: kept for review
    assert f"file {path.name}, row {row}, column '统一社会信用代码'" in outcome.rejects[0]


def test_repeated_key_in_a_file_keeps_the_first_row_and_quarantines_the_repeat(conn, tmp_path):
    lines = roster_lines(8)
    lines.append(lines[3].replace(lines[3].split(",")[0] + ",", "99,", 1))  # row 4's person and class again
    path = write_roster(tmp_path, lines, name="培训学员花名册_2023_重复.csv")

    outcome = load(conn, tmp_path)

    [file] = outcome.files
    assert (file.rows_read, file.rows_loaded, file.rows_rejected) == (9, 8, 1)
    assert raw_rows(conn, file.file_id) == 8
    [(row, column, reason, record)] = quarantine_for(conn, file.file_id)
    assert row == 11 and column == "班级编号, 公民身份号码"
    assert reason == "same key (班级编号, 公民身份号码) as row 4; the first row was kept"
    assert not resident_ids_in(json.dumps(record, ensure_ascii=False))
    assert any(path.name in line and "row 11" in line for line in outcome.rejects)


def test_cells_with_backslashes_and_tabs_reach_raw_unchanged(conn, tmp_path):
    lines = roster_lines(3)
    lines[2] = set_field(lines[2], 6, "DG\\2023\t01")
    write_roster(tmp_path, lines, name="培训学员花名册_2023_特殊字符.csv")

    outcome = load(conn, tmp_path)

    [file] = outcome.files
    assert file.rows_loaded == 3
    values = {r[0] for r in conn.execute("select class_id from raw.hrss_enrolment where _file_id = %s", (file.file_id,))}
    assert "DG\\2023\t01" in values


def test_a_file_of_many_chunks_is_pipelined_and_loads_what_a_small_file_would(conn, tmp_path, monkeypatch):
    """Above two blocks the loader pseudonymises in its helper process while it reads on.

    Blocks are made tiny here so the sample roster spans some twenty of them:
    every row arrives once, in order, with the pseudonym `hmac.new` gives,
    and a bad row in the middle is quarantined with its own row number.
    """
    import hmac

    from ingestion.pii import Pseudonymiser as RealPseudonymiser

    lines = roster_lines(120)
    original = lines[70].split(",")[3]
    lines[70] = set_field(lines[70], 3, original[:-1] + ("1" if original[-1] != "1" else "2"))
    path = write_roster(tmp_path, lines, name="培训学员花名册_2023_大文件.csv")
    monkeypatch.setattr("ingestion.readers.CSV_BLOCK_BYTES", 400)
    monkeypatch.setattr("ingestion.loader.CSV_BLOCK_BYTES", 400)
    workers = []
    real_worker = RealPseudonymiser.worker
    monkeypatch.setattr(RealPseudonymiser, "worker", lambda self: workers.append(1) or real_worker(self))

    outcome = load(conn, tmp_path)

    assert workers == [1], "the helper process was used"
    [file] = outcome.files
    assert (file.rows_read, file.rows_loaded, file.rows_rejected) == (120, 119, 1)
    [(row, column, reason, _)] = quarantine_for(conn, file.file_id)
    assert (row, column) == (71, "公民身份号码") and "check digit" in reason
    loaded = conn.execute(
        "select _row_number, person_id from raw.hrss_enrolment where _file_id = %s order by _row_number", (file.file_id,)
    ).fetchall()
    expected = [
        (number, hmac.new(TEST_KEY.encode(), line.split(",")[3].upper().encode(), "sha256").hexdigest())
        for number, line in enumerate(lines[2:], start=3)
        if number != 71
    ]
    assert loaded == expected


def test_govkpi_load_loads_a_department_or_says_why_its_delivery_was_refused(conn, fresh_db, tmp_path):
    import os

    env = dict(os.environ, GOVKPI_WAREHOUSE_URL=fresh_db, GOVKPI_PSEUDONYM_KEY=TEST_KEY, GOVKPI_STATE_DIR=str(tmp_path / "state"))
    good = tmp_path / "good"
    write_roster(good, roster_lines(6), name="培训学员花名册_2023_命令行.csv")

    loaded = run_govkpi(["load", "hrss", "--extracts", str(good)], env)

    assert loaded.returncode == 0, loaded.stderr
    assert "培训学员花名册_2023_命令行.csv [hrss_enrolment 2023] loaded: read 6, loaded 6, rejected 0" in loaded.stdout

    bad = tmp_path / "bad"
    write_roster(bad, [",".join(c for i, c in enumerate(line.split(",")) if i != 7) for line in roster_lines(3)], name="培训学员花名册_2023_缺列.csv")
    refused = run_govkpi(["load", "hrss", "--extracts", str(bad)], env)

    assert refused.returncode == 2
    assert "nothing loaded" in refused.stderr and "row 2" in refused.stderr and "报名日期" in refused.stderr


# --- a county: several townships in one register --------------------------

# A second township with a village of the same name as one of the bundled
# township's (杏花村): a village is known only within its township.
SECOND_TOWNSHIP = [
    "t02,青山镇,Qingshan Town,township,county,341099102",
    "t02v01,杏花村,Xinghua Village (Qingshan),village,t02,341099102201",
    "t02v02,石门村,Shimen Village,village,t02,341099102202",
]


def county_landing(folder: Path) -> AreaRegister:
    register = folder / "register" / "areas.csv"
    register.parent.mkdir(parents=True, exist_ok=True)
    bundled = (ROOT / "sample_data" / "register" / "areas.csv").read_text(encoding="utf-8")
    register.write_text(bundled.rstrip("\n") + "\n" + "\n".join(SECOND_TOWNSHIP) + "\n", encoding="utf-8")
    return AreaRegister.from_landing(folder)


def county_roster_lines(townships: list[str], villages: list[str]) -> list[str]:
    """The sample roster's title, header and first rows, with a 乡镇 column in front naming each row's township."""
    lines = roster_lines(len(townships))
    rows = [f"{t},{set_field(line, 5, v) if v else line}" for t, v, line in zip(townships, villages, lines[2:])]
    return [lines[0] + ",", "乡镇," + lines[1], *rows]


def test_a_county_file_gives_each_row_its_township_and_quarantines_unknown_townships_and_villages(conn, tmp_path):
    lines = county_roster_lines(
        # then ten more rows of the sample roster, as they are (the bundled township's)
        ["**镇", "青山镇", "青山镇", "白云镇", "**镇"] + ["**镇"] * 10,
        ["杏花村", "杏花村", "漫流村", "杏花村", "漫流村"] + [""] * 10,
    )
    write_roster(tmp_path, lines, name="全县培训学员花名册_2023.csv")
    # write_roster puts the bundled register in: the county's replaces it
    areas = county_landing(tmp_path)

    outcome = load_batch(conn, HRSS, discover(tmp_path, HRSS), Pseudonymiser(TEST_KEY.encode()), areas=areas)

    [file] = outcome.files
    assert (file.rows_read, file.rows_loaded, file.rows_rejected) == (15, 13, 2)
    loaded = conn.execute(
        "select _row_number, township_code, village_name from raw.hrss_enrolment where _file_id = %s and _row_number <= 7 order by 1",
        (file.file_id,),
    ).fetchall()
    # the same village name, in two townships, is two villages
    assert loaded == [(3, "township", "杏花村"), (4, "t02", "杏花村"), (7, "township", "漫流村")]
    (village_row, village_column, village_reason, _), (town_row, town_column, town_reason, record) = quarantine_for(conn, file.file_id)
    assert (village_row, village_column) == (5, "所在村(社区)")
    assert "unknown village '漫流村'" in village_reason and "not a village of 青山镇" in village_reason
    assert "杏花村、石门村" in village_reason and "register/areas.csv" in village_reason
    assert (town_row, town_column) == (6, "乡镇")
    assert "unknown township '白云镇'" in town_reason and "**镇、青山镇" in town_reason
    assert record["乡镇"] == "白云镇"
    manifest = conn.execute("select township_code from audit.load_manifest where file_id = %s", (file.file_id,)).fetchone()
    assert manifest == (None,), "a county file is no one township's"


def test_a_township_file_without_a_township_column_takes_the_township_its_name_names(conn, tmp_path):
    lines = roster_lines(10)
    path = write_roster(tmp_path, lines, name="青山镇_培训学员花名册_2023.csv")
    lines[2:] = [set_field(line, 5, "杏花村" if n % 2 else "石门村") for n, line in enumerate(lines[2:])]
    lines[5] = set_field(lines[5], 5, "南营村")  # the bundled township's village, not 青山镇's
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    areas = county_landing(tmp_path)

    outcome = load_batch(conn, HRSS, discover(tmp_path, HRSS), Pseudonymiser(TEST_KEY.encode()), areas=areas)

    [file] = outcome.files
    assert (file.rows_loaded, file.rows_rejected) == (9, 1)
    townships = conn.execute("select distinct township_code from raw.hrss_enrolment where _file_id = %s", (file.file_id,)).fetchall()
    assert townships == [("t02",)]
    [(row, column, reason, _)] = quarantine_for(conn, file.file_id)
    assert (row, column) == (6, "所在村(社区)") and "unknown village '南营村'" in reason
    manifest = conn.execute("select township_code from audit.load_manifest where file_id = %s", (file.file_id,)).fetchone()
    assert manifest == ("t02",)


def test_a_file_of_no_known_township_in_a_county_is_refused_naming_what_to_do(conn, tmp_path):
    write_roster(tmp_path, roster_lines(3), name="培训学员花名册_2023.csv")
    areas = county_landing(tmp_path)

    with pytest.raises(BatchRefused) as refused:
        load_batch(conn, HRSS, discover(tmp_path, HRSS), Pseudonymiser(TEST_KEY.encode()), areas=areas)

    error = refused.value.error
    assert error.file.endswith("培训学员花名册_2023.csv")
    assert "no township column (乡镇)" in str(error) and "names no township" in str(error)
    assert "**镇、青山镇" in str(error) and "division code" in str(error)
    assert raw_count_of_batch(conn, refused.value.batch_id) == 0


def raw_count_of_batch(conn: psycopg.Connection, batch_id: int) -> int:
    return conn.execute("select count(*) from raw.hrss_enrolment where _batch_id = %s", (batch_id,)).fetchone()[0]


def test_a_register_with_two_townships_of_one_name_is_refused(tmp_path):
    register = tmp_path / "register" / "areas.csv"
    county_landing(tmp_path)
    register.write_text(register.read_text(encoding="utf-8") + "t03,青山镇,Qingshan again,township,county,341099103\n", encoding="utf-8")

    with pytest.raises(Exception, match="two townships are named 青山镇"):
        AreaRegister.from_landing(tmp_path)


def test_a_loaded_batch_leaves_planner_statistics_on_what_it_wrote(conn, tmp_path):
    """The gate and the staging views read raw tables right after a load: statistics must be there (ADR 0023)."""
    write_roster(tmp_path, roster_lines(12), name="培训学员花名册_2023-stats.csv")

    outcome = load(conn, tmp_path)

    assert outcome.status == "loaded"
    for table in ("raw.hrss_enrolment", "audit.load_manifest"):
        rows = conn.execute(f"select count(*) from {table}").fetchone()[0]
        # ANALYZE of a table this small counts every row; -1 would mean never analysed
        estimated = conn.execute("select reltuples from pg_class where oid = %s::regclass", (table,)).fetchone()[0]
        assert estimated == rows, (table, estimated, rows)


def test_another_pseudonym_key_is_refused_before_anything_is_loaded(conn, tmp_path):
    """issue 14: a key other than the warehouse's would give everyone new pseudonyms; refused, nothing loaded."""
    from ingestion.loader import PseudonymKeyMismatch

    write_roster(tmp_path / "first", roster_lines(8))
    load(conn, tmp_path / "first")  # the warehouse's first load (or a later one) with its own key
    write_roster(tmp_path, roster_lines(9), name="培训学员花名册_2023_另一密钥.csv")
    recorded = conn.execute("select fingerprint from audit.pseudonym_key").fetchall()
    test_key = Pseudonymiser(TEST_KEY.encode())
    assert recorded == [(test_key.fingerprint,)], "the first load recorded its key's fingerprint"
    assert TEST_KEY not in recorded[0][0] and len(recorded[0][0]) == 64
    files_before = conn.execute("select count(*) from audit.load_manifest").fetchone()[0]
    rows_before = conn.execute("select count(*) from raw.hrss_enrolment").fetchone()[0]
    other = Pseudonymiser(b"another-key-" + b"x" * 40)

    with pytest.raises(PseudonymKeyMismatch) as refused:
        load_batch(conn, HRSS, discover(tmp_path, HRSS), other, areas=AREAS)

    message = str(refused.value)
    assert "GOVKPI_PSEUDONYM_KEY is not the key this warehouse's pseudonyms were made with" in message
    assert test_key.fingerprint[:12] in message and other.fingerprint[:12] in message
    assert "Nothing was loaded" in message
    assert conn.execute("select count(*) from audit.load_manifest").fetchone()[0] == files_before
    assert conn.execute("select count(*) from raw.hrss_enrolment").fetchone()[0] == rows_before
    # the warehouse's own key still loads
    assert load(conn, tmp_path).status == "loaded"


# --- a village that moves to another township (ADR 0035) -------------------

def moved_village_landing(folder: Path) -> AreaRegister:
    """The county register with 漫流村 moved from **镇 to 青山镇 on 2023-07-01, under a new code."""
    register = folder / "register" / "areas.csv"
    register.parent.mkdir(parents=True, exist_ok=True)
    lines = (ROOT / "sample_data" / "register" / "areas.csv").read_text(encoding="utf-8").splitlines()
    moved = [lines[0] + ",valid_from,valid_to"]
    for line in lines[1:]:
        moved.append(line + (",,2023-07-01" if line.startswith("manliu,") else ",,"))
    moved += [f"{row},," for row in SECOND_TOWNSHIP]
    moved.append("t02v03,漫流村,Manliu Village (Qingshan),village,t02,341099102203,2023-07-01,")
    register.write_text("\n".join(moved) + "\n", encoding="utf-8")
    return AreaRegister.from_landing(folder)


def test_a_moved_village_is_known_under_the_township_it_belonged_to_in_the_files_period(conn, tmp_path):
    for period, more in (("2023-06", 7), ("2023-08", 8)):
        # then more rows of the sample roster, as they are (a file of mostly bad rows is refused whole)
        lines = county_roster_lines(["**镇", "青山镇", "**镇"] + ["**镇"] * more, ["漫流村", "漫流村", "杏花村"] + [""] * more)
        folder = tmp_path / "hrss" / period
        folder.mkdir(parents=True)
        (folder / f"全县培训学员花名册_{period}.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    areas = moved_village_landing(tmp_path)

    outcome = load_batch(conn, HRSS, discover(tmp_path, HRSS), Pseudonymiser(TEST_KEY.encode()), areas=areas)

    june, august = sorted(outcome.files, key=lambda f: f.period)
    assert (june.period, june.rows_loaded, june.rows_rejected) == ("2023-06", 9, 1)
    assert (august.period, august.rows_loaded, august.rows_rejected) == ("2023-08", 10, 1)
    loaded = {
        period: conn.execute(
            "select _row_number, township_code, village_name from raw.hrss_enrolment where _file_id = %s and _row_number <= 5 "
            "order by 1",
            (file.file_id,),
        ).fetchall()
        for period, file in (("june", june), ("august", august))
    }
    # before the move it is **镇's village, after it 青山镇's; the other village never moved
    assert loaded["june"] == [(3, "township", "漫流村"), (5, "township", "杏花村")]
    assert loaded["august"] == [(4, "t02", "漫流村"), (5, "township", "杏花村")]
    [(row, column, reason, record)] = quarantine_for(conn, june.file_id)
    assert (row, column, record["乡镇"]) == (4, "所在村(社区)", "青山镇")
    assert "village '漫流村' is in 青山镇 only from 2023-07-01" in reason and "period 2023-06" in reason
    assert "in 2023-06 it is in **镇 (until 2023-07-01): name that township" in reason
    [(row, column, reason, record)] = quarantine_for(conn, august.file_id)
    assert (row, column, record["乡镇"]) == (3, "所在村(社区)", "**镇")
    assert "village '漫流村' is in **镇 only until 2023-07-01" in reason
    assert "in 2023-08 it is in 青山镇 (from 2023-07-01)" in reason and "register/areas.csv" in reason


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("t02v03,漫流村,x,village,t02,341099102203,2023-13-01,", "valid_from '2023-13-01' is not a date"),
        ("t02v03,漫流村,x,village,t02,341099102203,2023-07-01,2023-07-01", "valid_from 2023-07-01 is not before valid_to"),
        ("t03,白云镇,x,township,county,341099103,2023-07-01,", "only a village's row may have valid_from or valid_to"),
    ],
)
def test_a_register_with_bad_validity_dates_is_refused_naming_the_line(tmp_path, row, message):
    moved_village_landing(tmp_path)
    register = tmp_path / "register" / "areas.csv"
    lines = register.read_text(encoding="utf-8").splitlines()
    lines[-1] = row
    register.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(Exception, match=message) as refused:
        AreaRegister.from_landing(tmp_path)
    assert f"line {len(lines)}" in str(refused.value)
