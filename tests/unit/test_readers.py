"""Readers find headers where county reports put them and skip what is not data."""

from __future__ import annotations

import datetime as dt

import openpyxl
import polars as pl
import pytest
from stdnum.cn import ric

from ingestion.errors import ExtractError
from ingestion.parsers import parse_chunk
from ingestion.pii import Pseudonymiser
from ingestion.readers import ROW_NUMBER, detect_encoding, open_extract
from ingestion.specs.health import MEDICAL_AID


def valid_id(body: str) -> str:
    return body + ric.calc_check_digit(body + "0")


def county_report(path, rows):
    """An aid report as the county's form lays it out: title, two-row merged header, totals."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["**镇2023年临时医疗救助发放表（合成样例数据）"])
    sheet.merge_cells("A1:I1")
    sheet.append(["序号", "救助编号", "救助对象", None, "所在村", "救助情况", None, None, "备注"])
    sheet.append([None, None, "户主姓名", "户主身份证号", None, "救助日期", "救助金额（元）", "资金来源", None])
    for col in ("A", "B", "E", "I"):
        sheet.merge_cells(f"{col}2:{col}3")
    sheet.merge_cells("C2:D2")
    sheet.merge_cells("F2:H2")
    for row in rows:
        sheet.append(row)
    sheet.append(["合计", None, None, None, None, None, sum(r[6] for r in rows), None, None])
    book.save(path)


def test_merged_two_row_header_totals_row_and_three_date_styles(tmp_path):
    rows = [
        [1, "JZ-001", "测试甲", valid_id("34012119700101101"), "杏花村", dt.datetime(2023, 6, 1), 3000, "企业捐赠", None],
        [2, "JZ-002", "测试乙", valid_id("34012119750202202"), "漫流村", "2023年6月1日", 1500.5, "爱心人士", None],
        [3, "JZ-003", "测试丙", valid_id("34012119800303303"), "南营村", "2023/6/1", 2000, "企业捐赠", None],
        [4, "JZ-004", "测试丁", valid_id("34012119850404404"), "马窑村", 45078, 800, "爱心人士", None],
    ]
    path = tmp_path / "临时医疗救助发放表_2023.xlsx"
    county_report(path, rows)

    opened = open_extract(MEDICAL_AID, path)
    assert opened.header.row_number == 3
    assert opened.header.headers["amount_yuan"] == "救助金额(元)"
    assert opened.header.positions == {
        "payment_id": 1, "household_head_id": 3, "village_name": 4,
        "paid_date": 5, "amount_yuan": 6, "funding_source_name": 7,
    }
    chunks = list(opened.chunks)
    frame = pl.concat([c.rows for c in chunks])
    assert frame[ROW_NUMBER].to_list() == [4, 5, 6, 7], "the totals row (row 8) is not data"
    parsed = parse_chunk(MEDICAL_AID, frame, opened.header.headers, Pseudonymiser(b"k" * 40))
    assert parsed.rejects == []
    assert parsed.valid["paid_date"].to_list() == ["2023-06-01"] * 4
    assert parsed.valid["amount_yuan"].to_list() == ["3000", "1500.5", "2000", "800"]


def test_missing_column_under_a_merged_group_is_named(tmp_path):
    path = tmp_path / "临时医疗救助发放表_2023.xlsx"
    county_report(path, [[1, "JZ-001", "测试", valid_id("34012119700101101"), "杏花村", "2023/6/1", 1, "企业捐赠", None]])
    book = openpyxl.load_workbook(path)
    book.active["G3"] = "金额合计"  # the amount column renamed beyond recognition
    book.save(path)
    with pytest.raises(ExtractError) as error:
        open_extract(MEDICAL_AID, path)
    assert error.value.row == 3 and error.value.column == "救助金额(元)"
    assert "临时医疗救助发放表_2023.xlsx" in str(error.value)


@pytest.mark.parametrize(
    ("data", "label"),
    [
        ("编号,名称\n1,杏花村\n".encode("utf-8"), "utf-8"),
        ("\ufeff编号,名称\n1,杏花村\n".encode("utf-8"), "utf-8-bom"),
        ("编号,名称\n1,杏花村\n".encode("gb18030"), "gb18030"),
        # UTF-8 that breaks after valid Chinese text is damaged UTF-8, not GB18030.
        ("编号,名称\n1,杏花村\n".encode("utf-8") + b"2,\xff\n", "utf-8"),
    ],
)
def test_encoding_detection(tmp_path, data, label):
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    assert detect_encoding(path).label == label


def test_csv_totals_row_is_skipped_even_under_an_unloaded_column(tmp_path):
    from ingestion.specs.hrss import TRAINING_CLASS

    path = tmp_path / "培训班级台账_2023.csv"
    path.write_text(
        "序号,班级编号,班级名称,培训工种,开班日期,结业日期,培训地点,培训机构,课时,计划人数\n"
        "1,DG-01,电工班,电工,2023-03-06,2023-03-20,杏花村,某机构,40,40\n"
        "合 计,,,,,,,,40,40\n",
        encoding="utf-8",
    )
    opened = open_extract(TRAINING_CLASS, path)
    frame = pl.concat([c.rows for c in opened.chunks])
    assert frame[ROW_NUMBER].to_list() == [2]


TRAINING_HEADER = "序号,班级编号,班级名称,培训工种,开班日期,结业日期,培训地点,培训机构,课时,计划人数\n"


def training_row(n: int, name: str = "电工班") -> str:
    return f"{n},DG-{n:04d},{name},电工,2023-03-06,2023-03-20,杏花村,某机构,40,40\n"


def read_all(path, monkeypatch=None, block_bytes=None):
    from ingestion.specs.hrss import TRAINING_CLASS

    if block_bytes is not None:
        monkeypatch.setattr("ingestion.readers.CSV_BLOCK_BYTES", block_bytes)
    opened = open_extract(TRAINING_CLASS, path)
    return pl.concat([c.rows for c in opened.chunks])


def test_a_quoted_line_break_is_one_cell_and_one_row_across_blocks(tmp_path, monkeypatch):
    rows = [training_row(n) for n in range(1, 200)]
    rows[120] = '121,DG-0121,"电工班\n（夜班）",电工,2023-03-06,2023-03-20,杏花村,某机构,40,40\n'
    path = tmp_path / "培训班级台账_2023.csv"
    path.write_text(TRAINING_HEADER + "".join(rows), encoding="gb18030")

    frame = read_all(path, monkeypatch, block_bytes=256)  # a few rows per block: the quoted break falls inside one

    assert frame.height == 199
    assert frame[ROW_NUMBER].to_list() == list(range(2, 201)), "rows are numbered as a spreadsheet numbers them"
    assert frame.filter(pl.col(ROW_NUMBER) == 122)["class_name"].item() == "电工班\n（夜班）"
    assert frame.filter(pl.col(ROW_NUMBER) == 123)["class_id"].item() == "DG-0122"


def test_a_row_with_more_cells_than_the_header_is_named(tmp_path, monkeypatch):
    rows = [training_row(n) for n in range(1, 50)]
    rows[30] = rows[30].rstrip("\n") + ",多出来的一格\n"
    path = tmp_path / "培训班级台账_2023.csv"
    path.write_text(TRAINING_HEADER + "".join(rows), encoding="utf-8")

    with pytest.raises(ExtractError) as error:
        read_all(path, monkeypatch, block_bytes=512)

    assert error.value.row == 32 and "11 cells, more than the 10 of the header" in str(error.value)
    assert "培训班级台账_2023.csv" in str(error.value)


def test_trailing_empty_cells_and_a_stray_quote_are_read_as_a_spreadsheet_would(tmp_path):
    rows = [training_row(n) for n in range(1, 6)]
    rows[1] = rows[1].rstrip("\n") + ",,\n"  # Excel's trailing commas
    rows[3] = training_row(4, name='5"屏电工班')  # a quote inside an unquoted cell is text
    path = tmp_path / "培训班级台账_2023.csv"
    path.write_text(TRAINING_HEADER + "".join(rows) + "\n", encoding="utf-8")

    frame = read_all(path)

    assert frame[ROW_NUMBER].to_list() == [2, 3, 4, 5, 6], "the blank last line is not a row"
    assert frame["class_name"].to_list()[3] == '5"屏电工班'


def test_damaged_utf8_marks_only_the_blocks_from_the_damage_on(tmp_path, monkeypatch):
    good = [training_row(n) for n in range(1, 80)]
    data = (TRAINING_HEADER + "".join(good)).encode("utf-8")
    cut = data.rindex("杏花村".encode("utf-8"))
    path = tmp_path / "培训班级台账_2023.csv"
    path.write_bytes(data[:cut] + b"\xff" + data[cut + 1 :])
    from ingestion.specs.hrss import TRAINING_CLASS

    monkeypatch.setattr("ingestion.readers.CSV_BLOCK_BYTES", 1024)
    chunks = list(open_extract(TRAINING_CLASS, path).chunks)

    assert len(chunks) > 3
    assert [c.may_hold_undecodable for c in chunks] == [False] * (len(chunks) - 1) + [True]
    parsed = parse_chunk(TRAINING_CLASS, chunks[-1].rows, open_extract(TRAINING_CLASS, path).header.headers, Pseudonymiser(b"k" * 40))
    [reject] = parsed.rejects
    assert reject["row_number"] == 80 and reject["column"] == "培训地点" and "not valid in the file's encoding" in reject["reason"]
