"""The malformed-input corpus: deliveries the way clerks and department systems really get them wrong.

Every case is generated from the bundled sample extracts when the tests run
(nothing binary is stored): `build(landing)` writes one HR & SS delivery
into a landing folder, and `expect` says what loading it must do:

- `Rows(read, loaded, quarantined=[(row, column, words)])`: the file loads;
  the named rows are quarantined with a reason containing `words`, every
  other row is loaded;
- `Refused(row, column, words)`: the whole delivery is refused with an
  error naming the file (and the row and column when there is one);
- `Skipped(words)`: discovery leaves a file aside and says why (or, for a
  whole folder, the delivery is not ready).

`python -m tests.reliability.corpus DIR` writes every case's landing folder
under DIR, for looking at them by hand.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
ROSTER = SAMPLE / "hrss" / "2023-03" / "培训学员花名册_2023-03.csv"
CLASSES = SAMPLE / "hrss" / "2023-03" / "培训班级台账_2023-03.xlsx"
ROSTER_NAME = "培训学员花名册_2023-03.csv"
PERIOD = "2023-03"
# columns of the roster: 序号,姓名,性别,公民身份号码,联系电话,所在村(社区),班级编号,报名日期,是否结业
NAME, ID, VILLAGE, DATE = 1, 3, 5, 7


@dataclass(frozen=True)
class Rows:
    read: int
    loaded: int
    quarantined: list[tuple[int, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Refused:
    words: str
    row: int | None = None
    column: str | None = None


@dataclass(frozen=True)
class Skipped:
    words: str


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    build: Callable[[Path], None]
    expect: Rows | Refused | Skipped
    department: str = "hrss"


def roster_lines(n: int = 10) -> list[str]:
    """The title line, the header line and the first n data lines of the sample roster."""
    return ROSTER.read_bytes().decode("gb18030").split("\r\n")[: n + 2]


def folder(landing: Path, period: str = PERIOD, department: str = "hrss", marker: bool = True) -> Path:
    register = landing / "register" / "areas.csv"
    register.parent.mkdir(parents=True, exist_ok=True)
    if not register.exists():
        register.write_bytes((SAMPLE / "register" / "areas.csv").read_bytes())
    target = landing / department / period
    target.mkdir(parents=True, exist_ok=True)
    if marker:
        (target / "_DELIVERED").write_text("")
    return target


def write_lines(landing: Path, lines: list[str], *, encoding: str = "gb18030", name: str = ROSTER_NAME,
                newline: str = "\r\n", bom: bytes = b"") -> Path:
    path = folder(landing) / name
    path.write_bytes(bom + (newline.join(lines) + newline).encode(encoding, errors="replace"))
    return path


def with_cell(line: str, index: int, value: str) -> str:
    cells = line.split(",")
    cells[index] = value
    return ",".join(cells)


def roster_with(changes: dict[int, tuple[int, str]], n: int = 10) -> Callable[[Path], None]:
    """A roster of n rows where data line i (file row i + 2) has cell `index` set to `value`."""

    def build(landing: Path) -> None:
        lines = roster_lines(n)
        for line, (index, value) in changes.items():
            lines[line + 1] = with_cell(lines[line + 1], index, value)
        write_lines(landing, lines)

    return build


def roster_lines_as(transform: Callable[[list[str]], list[str]], **write) -> Callable[[Path], None]:
    def build(landing: Path) -> None:
        write_lines(landing, transform(roster_lines()), **write)

    return build


def raw_bytes(transform: Callable[[bytes], bytes], name: str = ROSTER_NAME) -> Callable[[Path], None]:
    def build(landing: Path) -> None:
        data = ("\r\n".join(roster_lines()) + "\r\n").encode("gb18030")
        (folder(landing) / name).write_bytes(transform(data))

    return build


def workbook(transform: Callable[[object], None], source: Path = CLASSES, department: str = "hrss") -> Callable[[Path], None]:
    """A sample workbook (the training classes'), changed by `transform(workbook)`."""

    def build(landing: Path) -> None:
        import openpyxl

        book = openpyxl.load_workbook(source)
        transform(book)
        book.save(folder(landing, department=department) / source.name)

    return build


AID = SAMPLE / "health" / "2023-03" / "临时医疗救助发放表_2023-03.xlsx"
AID_ROWS = 5  # data rows of the sample's March medical-aid workbook (rows 4 .. 8; row 9 is its totals row)


def aid_amount(value: object, row: int = 5) -> Callable[[object], None]:
    """The medical-aid workbook with the amount (救助金额) of file row `row` set to `value`."""

    def transform(book) -> None:
        book.worksheets[0].cell(row, 7).value = value

    return transform


def _own_id_spaced(landing: Path) -> None:
    lines = roster_lines()
    cells = lines[6].split(",")
    own = cells[ID]
    cells[ID] = f" {own[:6]} {own[6:14]} {own[14:]} "
    lines[6] = ",".join(cells)
    write_lines(landing, lines)


def _without_marker(landing: Path) -> None:
    path = folder(landing, marker=False) / ROSTER_NAME
    path.write_bytes(("\r\n".join(roster_lines()) + "\r\n").encode("gb18030"))


def _csv_named_xlsx(data: bytes) -> bytes:
    return data


def _columns(lines: list[str], order: list[int]) -> list[str]:
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        out.append(",".join(cells[i] for i in order))
    return out


def _header(lines: list[str], old: str, new: str) -> list[str]:
    return [lines[0], lines[1].replace(old, new), *lines[2:]]


def _insert(lines: list[str], at: int, line: str) -> list[str]:
    return [*lines[:at], line, *lines[at:]]


def _zip_of(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", data)
    return out.getvalue()


def _symlink_out(landing: Path) -> None:
    outside = landing.parent / f"{landing.name}-outside"
    outside.mkdir(parents=True, exist_ok=True)
    target = outside / ROSTER_NAME
    target.write_bytes(("\r\n".join(roster_lines()) + "\r\n").encode("gb18030"))
    os.symlink(target, folder(landing) / ROSTER_NAME)


def _second_sheet(book) -> None:
    extra = book.create_sheet("说明")
    extra.append(["本表为合成样例数据"])


def _sheet_first(book) -> None:
    notes = book.create_sheet("填表说明", 0)
    notes.append(["填表说明：班级编号必填"])


def _header_lower(book) -> None:
    sheet = book.worksheets[0]
    sheet.insert_rows(1, amount=2)
    sheet.cell(1, 1, "（合成样例数据）")


def _totals_row(book) -> None:
    sheet = book.worksheets[0]
    sheet.append(["合计", None, None, None, None, None, None, None])


def _blank_required(book) -> None:
    sheet = book.worksheets[0]
    header_row = next(r for r in range(1, 6) if any(c.value == "班级编号" for c in sheet[r]))
    column = next(c.column for c in sheet[header_row] if c.value == "班级编号")
    sheet.cell(header_row + 1, column).value = None


N = 10  # data rows of a generated roster; file rows 3 .. 12
ZWSP = "\u200b"

CASES: list[Case] = [
    # ---- encodings
    Case("utf8", "encoding", roster_lines_as(lambda l: l, encoding="utf-8"), Rows(N, N)),
    Case("utf8_bom", "encoding", roster_lines_as(lambda l: l, encoding="utf-8", bom=b"\xef\xbb\xbf"), Rows(N, N)),
    Case("utf16_le_bom", "encoding", roster_lines_as(lambda l: l, encoding="utf-16"), Refused("UTF-16")),
    Case("utf16_be_bom", "encoding", roster_lines_as(lambda l: l, encoding="utf-16-be", bom=b"\xfe\xff"), Refused("UTF-16")),
    Case("big5", "encoding", roster_lines_as(lambda l: l, encoding="big5"), Refused("Big5")),
    Case("gb18030_cut_mid_character", "encoding", raw_bytes(lambda b: b.rstrip(b"\r\n")[:-1]),
         Rows(N, N - 1, [(N + 2, "是否结业", "")])),
    Case("lf_line_ends", "encoding", roster_lines_as(lambda l: l, newline="\n"), Rows(N, N)),
    # ---- headers
    Case("header_renamed_alias", "header", roster_lines_as(lambda l: _header(l, "所在村(社区)", "所在村（社区）")), Rows(N, N)),
    Case("header_renamed_unknown", "header", roster_lines_as(lambda l: _header(l, "报名日期", "登记时间")),
         Refused("required column missing", 2, "报名日期")),
    Case("header_duplicated", "header", roster_lines_as(lambda l: [l[0], l[1] + ",班级编号", *[x + ",NY-2023-09" for x in l[2:]]]),
         Refused("two columns map to", 2, "班级编号")),
    Case("header_missing", "header", roster_lines_as(lambda l: [l[0], *l[2:]]), Refused("no header row")),
    Case("header_extra_column", "header", roster_lines_as(lambda l: [l[0], l[1] + ",备注", *[x + ",无" for x in l[2:]]]),
         Rows(N, N)),
    Case("header_on_a_later_line", "header", roster_lines_as(lambda l: ["说明：合成样例数据", "", *l]), Rows(N, N)),
    Case("header_shuffled", "header", roster_lines_as(lambda l: _columns(l, [8, 7, 6, 5, 4, 3, 2, 1, 0])), Rows(N, N)),
    Case("no_title_line", "header", roster_lines_as(lambda l: l[1:]), Rows(N, N)),
    # ---- rows
    Case("totals_row_mid_file", "rows", roster_lines_as(lambda l: _insert(l, 7, "合计,,,,,,,,")), Rows(N, N)),
    Case("totals_row_at_end", "rows", roster_lines_as(lambda l: [*l, "合计：10人,,,,,,,,"]), Rows(N, N)),
    Case("blank_lines", "rows", roster_lines_as(lambda l: _insert(_insert(l, 5, ",,,,,,,,"), 9, "")), Rows(N, N)),
    Case("ragged_short_row", "rows", roster_lines_as(lambda l: [*l[:6], ",".join(l[6].split(",")[:5]), *l[7:]]),
         Rows(N, N - 1, [(7, "所在村(社区)", "required value is empty")])),
    # cells beyond the header have no column: the row's own cells load
    Case("ragged_long_row", "rows", roster_lines_as(lambda l: [*l[:6], l[6] + ",多余,多余", *l[7:]]), Rows(N, N)),
    Case("embedded_newline_quoted", "rows", roster_with({3: (NAME, '"王\n静"')}), Rows(N, N)),
    Case("semicolon_separated", "rows", roster_lines_as(lambda l: [x.replace(",", ";") for x in l]), Refused("semicolons")),
    Case("tab_separated", "rows", roster_lines_as(lambda l: [x.replace(",", "\t") for x in l]), Refused("tabs")),
    # ---- resident IDs
    Case("id_full_width_digits", "id", roster_with({2: (ID, "３４０４２１１９８５１２０６６８６２")}), Rows(N, N)),
    Case("id_lowercase_x", "id", roster_with({1: (ID, "34012119720211344x")}), Rows(N, N)),
    Case("id_15_digits", "id", roster_with({4: (ID, "340421720312267")}), Rows(N, N - 1, [(6, "公民身份号码", "15")])),
    Case("id_with_spaces", "id", _own_id_spaced, Rows(N, N)),
    Case("id_of_another_row", "id", roster_with({5: (ID, "340421197203122678")}),
         Rows(N, N - 1, [(7, "班级编号, 公民身份号码", "same key")])),
    Case("id_wrong_check_digit", "id", roster_with({6: (ID, "340421197203122679")}),
         Rows(N, N - 1, [(8, "公民身份号码", "check digit")])),
    Case("id_empty", "id", roster_with({7: (ID, "")}), Rows(N, N - 1, [(9, "公民身份号码", "")])),
    # ---- dates and values
    Case("date_impossible", "date", roster_with({2: (DATE, "2023-02-30")}), Rows(N, N - 1, [(4, "报名日期", "")])),
    Case("date_future", "date", roster_with({3: (DATE, "2031-01-01")}), Rows(N, N - 1, [(5, "报名日期", "")])),
    Case("date_excel_serial", "date", roster_with({4: (DATE, "44981")}), Rows(N, N)),
    Case("boolean_unknown", "value", roster_with({5: (8, "也许")}), Rows(N, N - 1, [(7, "是否结业", "")])),
    # ---- characters
    Case("nul_in_a_cell", "chars", roster_with({2: (6, "NY-2023\x00-01")}), Rows(N, N - 1, [(4, "班级编号", "control character")])),
    Case("zero_width_in_village", "chars", roster_with({3: (VILLAGE, "杏花村" + ZWSP)}), Rows(N, N)),
    Case("very_long_value", "chars", roster_with({4: (6, "长" * 5000)}), Rows(N, N - 1, [(6, "班级编号", "longer than")])),
    Case("sql_in_a_name", "chars", roster_with({5: (NAME, "Robert'); drop table raw.hrss_enrolment;--")}), Rows(N, N)),
    Case("unknown_village", "chars", roster_with({6: (VILLAGE, "东风村")}), Rows(N, N - 1, [(8, "所在村(社区)", "unknown village")])),
    # ---- files
    Case("empty_file", "file", raw_bytes(lambda b: b""), Refused("empty")),
    Case("header_only", "file", roster_lines_as(lambda l: l[:2]), Refused("no data rows")),
    Case("truncated_mid_row", "file", raw_bytes(lambda b: b[: len(b) - 30]), Rows(N, N - 1, [(N + 2, "所在村(社区)", "unknown village")])),
    Case("xlsx_that_is_csv", "file", raw_bytes(_csv_named_xlsx, name=CLASSES.name), Refused("CSV text")),
    Case("xlsx_corrupt", "file", raw_bytes(lambda b: _zip_of(b), name=CLASSES.name), Refused("cannot be opened as an Excel workbook")),
    Case("legacy_xls", "file", raw_bytes(lambda b: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, name="培训班级台账_2023-03.xls"),
         Refused("xls")),
    Case("workbook_second_sheet", "file", workbook(_second_sheet), Rows(2, 2)),
    Case("workbook_notes_sheet_first", "file", workbook(_sheet_first), Rows(2, 2)),
    Case("workbook_header_lower", "file", workbook(_header_lower), Rows(2, 2)),
    Case("workbook_totals_row", "file", workbook(_totals_row), Rows(2, 2)),
    # one of the file's two rows broken: more than the 20% a file may lose, so the whole delivery is refused
    Case("workbook_blank_required_cell", "file", workbook(_blank_required), Refused("more than 20%")),
    # ---- amounts (the health alliance's medical-aid workbook)
    Case("amount_with_yuan_and_separators", "amount", workbook(aid_amount("13,404.72元"), AID, "health"), Rows(AID_ROWS, AID_ROWS), "health"),
    Case("amount_full_width", "amount", workbook(aid_amount("１３４０４.７２"), AID, "health"), Rows(AID_ROWS, AID_ROWS), "health"),
    # a reversal is written as a negative amount: a number, loaded as delivered
    Case("amount_negative", "amount", workbook(aid_amount("-200"), AID, "health"), Rows(AID_ROWS, AID_ROWS), "health"),
    Case("amount_text", "amount", workbook(aid_amount("待定"), AID, "health"),
         Rows(AID_ROWS, AID_ROWS - 1, [(5, "救助金额(元)", "not a number")]), "health"),
    # ---- the delivery
    Case("stray_office_lock_file", "delivery",
         lambda landing: (roster_lines_as(lambda l: l)(landing), (folder(landing) / "~$培训班级台账_2023-03.xlsx").write_bytes(b"\x00" * 162)),
         Skipped("lock")),
    Case("stray_desktop_files", "delivery",
         lambda landing: (roster_lines_as(lambda l: l)(landing), (folder(landing) / "desktop.ini").write_text("[.ShellClassInfo]"),
                          (folder(landing) / "Thumbs.db").write_bytes(b"\x00" * 64)),
         Skipped("desktop")),
    Case("missing_delivered_marker", "delivery", _without_marker, Skipped("no _DELIVERED marker")),
    Case("symlink_out_of_landing", "delivery", _symlink_out, Refused("outside")),
    Case("file_of_another_period", "delivery",
         lambda landing: write_lines(landing, roster_lines(), name="培训学员花名册_2023-04.csv"), Refused("2023-04")),
]


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "malformed-corpus")
    for case in CASES:
        landing = out / case.name
        shutil.rmtree(landing, ignore_errors=True)
        landing.mkdir(parents=True)
        case.build(landing)
    print(f"{len(CASES)} cases under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
