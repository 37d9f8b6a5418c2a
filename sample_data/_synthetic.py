"""What the synthetic-data generators (`generate_*.py` in this folder) share.

The three generators (HR & SS, health, enforcement) each invent one
department's 2023 extracts. They invent the same kind of people, write
files the same way and keep their README figures current the same way;
that common part lives here so it is written once:

- the township's 23 villages/communities and the name material;
- synthetic people: names, resident ID numbers valid under
  `stdnum.cn.ric`, phone numbers;
- working days against a holiday table;
- deterministic writing: XLSX with fixed document properties and zip-entry
  times, CSV text, the title row of an Excel "save as CSV";
- monthly deliveries: one folder per month (`<department>/<YYYY-MM>/`)
  holding the month's files and, written last, the `_DELIVERED` marker;
  splitting event rows by month and registers into month-end snapshots;
- write into a scratch folder, verify there, then move into place;
- checks that raise `SampleDataError`;
- the README blocks of generated figures, and the command line.

What a department's files contain stays in its own generator.

**Everything here feeds the output of all three generators.** The files are
byte-identical from run to run (see the READMEs), and anything that changes
the order or number of draws from the random generator, or the bytes
written, changes the files. After editing this module, re-run all three
generators and compare `sha256sum` of their files with the committed ones.

Run as scripts, the generators import this module from their own folder
(`sys.path[0]`); imported as `sample_data.generate_*`, they import
it relatively.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import logging
import os
import random
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import openpyxl
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter
from stdnum import numdb
from stdnum.cn import ric

T = TypeVar("T")
Figure = tuple[str, str, str]  # (figure, value, source)

# XLSX created/modified and zip-entry times: fixed, so the bytes do not depend on when a generator ran.
FIXED_TIMESTAMP = dt.datetime(2024, 1, 15, 9, 0, 0)

# The six villages and the community named in the source text, then 16
# invented names to make up the township's 23 villages/communities (the same
# names as sample_data/register/areas.csv).
SEED_PLACES = ("杏花村", "漫流村", "南营村", "马窑村", "马庄村", "河下村", "后庄社区")
INVENTED_VILLAGES = (
    "东岗村", "西岗村", "柳湾村", "桃园村", "石桥村", "李庄村", "王楼村", "张集村",
    "孙寨村", "高庙村", "前营村", "后营村", "北坡村", "槐树村", "青龙村", "白沙村",
)
VILLAGES = SEED_PLACES + INVENTED_VILLAGES
# The places named in the source text are drawn twice as often as the invented ones.
VILLAGE_WEIGHTS = tuple(2 if v in SEED_PLACES else 1 for v in VILLAGES)

# Region codes (first six ID digits) with their weights. Chosen because
# python-stdnum's cn/loc database lists these counties with no validity
# range, so every birth year validates; the real location of the masked
# township is unknown. The first is "home"; the other two stand for people
# who moved in (e.g. by marriage) and kept their original number.
REGION_CODES = (("340121", 86), ("340421", 8), ("340621", 6))

SURNAMES = (
    ("王", 14), ("李", 13), ("张", 12), ("刘", 10), ("陈", 8), ("杨", 6), ("赵", 5), ("黄", 4), ("周", 4),
    ("吴", 4), ("徐", 3), ("孙", 3), ("胡", 3), ("朱", 3), ("高", 3), ("马", 3), ("郭", 3), ("何", 2),
    ("罗", 2), ("宋", 2), ("郑", 2), ("韩", 2), ("冯", 2), ("于", 2), ("董", 2), ("程", 2), ("曹", 2),
    ("袁", 2), ("许", 2), ("魏", 2), ("丁", 2), ("汪", 2), ("蒋", 1), ("葛", 1), ("鲁", 1), ("孟", 1),
    ("侯", 1), ("史", 1), ("柏", 1), ("谢", 1), ("邵", 1), ("常", 1), ("方", 1), ("戴", 1), ("岳", 1),
)
MALE_CHARS = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆旭宁龙林洋建国志海峰东春文庆永振兵成德新利金山保全亮红"
FEMALE_CHARS = "芳娟敏静丽艳霞燕玲萍红娜婷雪慧颖琳洁梅兰英凤秀华倩莉琴云月佳欣悦晶丹桂翠春花玉珍"

UTF8_BOM = b"\xef\xbb\xbf"


class SampleDataError(RuntimeError):
    """The generated files do not satisfy the facts or the format they must show."""


def check(condition: bool, message: str) -> None:
    """Raise `SampleDataError(message)` unless `condition` holds.

    The verification steps are long lists of such checks; a generator must
    refuse to write rather than ship files that break a fact.
    """
    if not condition:
        raise SampleDataError(message)


# --------------------------------------------------------------------------
# Drawing at random
# --------------------------------------------------------------------------


def weighted(rng: random.Random, options: Sequence[tuple[str, int]] | Mapping[str, int]) -> str:
    """One option drawn with its weight, from (option, weight) pairs or an {option: weight} dict.

    One `rng.choices` call, so one draw from the generator either way.
    """
    pairs = tuple(options.items()) if isinstance(options, Mapping) else options
    return rng.choices([o for o, _ in pairs], weights=[w for _, w in pairs])[0]


def village(rng: random.Random) -> str:
    """A village/community of the township, the ones named in the source text twice as likely."""
    return rng.choices(VILLAGES, weights=VILLAGE_WEIGHTS)[0]


# --------------------------------------------------------------------------
# Synthetic people
# --------------------------------------------------------------------------


def check_region_codes(region_codes: Sequence[tuple[str, int]] = REGION_CODES) -> None:
    """Every region code must accept any birth year (no '[start-end]' county range).

    Otherwise a drawn birth date could fall outside the county's validity in
    stdnum's cn/loc and the ID number would not validate.
    """
    db = numdb.get("cn/loc")
    for code, _ in region_codes:
        info = {k: v for _, props in db.info(code) for k, v in props.items()}
        if "county" not in info or info["county"].startswith("["):
            raise SampleDataError(f"region code {code} has a validity range in stdnum's cn/loc: {info}")


def name(rng: random.Random, male: bool) -> str:
    """A plausible Chinese name: a weighted surname and a one- or two-character given name."""
    chars = MALE_CHARS if male else FEMALE_CHARS
    given = rng.choice(chars)
    if rng.random() < 0.68:
        given += rng.choice(chars)
    return weighted(rng, SURNAMES) + given


def resident_id(rng: random.Random, male: bool, age: int, used: set[str], *, year: int,
                force_x: bool = False) -> str:
    """A synthetic 18-character resident ID number valid under stdnum (check digit, date, place).

    The holder is aged exactly `age` on 1 July of `year`, and the sex digit
    agrees with `male`. The number is added to `used` and never repeats one
    already there. With `force_x` the draw is repeated until the check
    character is X (so a file can show an upper-/lower-case X quirk).
    """
    birth_floor = dt.date(year - age - 1, 7, 2)  # aged exactly `age` on 1 July
    while True:
        region = weighted(rng, REGION_CODES)
        birth = birth_floor + dt.timedelta(days=rng.randrange(365))
        station = rng.randint(1, 68)
        sex_digit = rng.choice("13579" if male else "02468")
        body = f"{region}{birth:%Y%m%d}{station:02d}{sex_digit}"
        number = body + ric.calc_check_digit(body + "0")
        if number in used or (force_x and not number.endswith("X")):
            continue
        used.add(number)
        return number


def phone(rng: random.Random, used: set[str]) -> str:
    """A mobile number in the 170/171 ranges (virtual operators), unique within `used`."""
    while True:
        number = rng.choice(("170", "171")) + f"{rng.randrange(10**8):08d}"
        if number not in used:
            used.add(number)
            return number


# --------------------------------------------------------------------------
# Working days
# --------------------------------------------------------------------------


def is_working_day(day: dt.date, holidays: Sequence[tuple[str, str]]) -> bool:
    """Monday to Friday and inside none of the (first, last) ISO-date holiday spans."""
    return day.weekday() < 5 and not any(
        dt.date.fromisoformat(a) <= day <= dt.date.fromisoformat(b) for a, b in holidays)


def next_working_day(day: dt.date, holidays: Sequence[tuple[str, str]]) -> dt.date:
    """`day` itself if it is a working day, else the first working day after it."""
    while not is_working_day(day, holidays):
        day += dt.timedelta(days=1)
    return day


def previous_working_day(day: dt.date, holidays: Sequence[tuple[str, str]]) -> dt.date:
    """`day` itself if it is a working day, else the last working day before it."""
    while not is_working_day(day, holidays):
        day -= dt.timedelta(days=1)
    return day


# --------------------------------------------------------------------------
# Writing files deterministically
# --------------------------------------------------------------------------


def save_workbook(workbook: openpyxl.Workbook, path: Path, script: str) -> None:
    """Save with fixed timestamps so the bytes do not depend on when we ran.

    openpyxl's `save()` stamps the current time into docProps/core.xml and
    every zip entry, so the workbook is written through `ExcelWriter` and
    the archive is repacked with a fixed entry time. The creator names
    `script`, the generator that wrote the file.
    """
    props = workbook.properties
    props.creator = f"govkpi {script} (synthetic sample data)"
    props.lastModifiedBy = props.creator
    props.created = FIXED_TIMESTAMP
    props.modified = FIXED_TIMESTAMP
    raw = io.BytesIO()
    ExcelWriter(workbook, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED)).save()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_TIMESTAMP.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            target.writestr(entry, source.read(info.filename))


def titled_sheet(workbook: openpyxl.Workbook, sheet_name: str, title: str,
                 header: tuple[str, ...], widths: tuple[int, ...]) -> Worksheet:
    """The workbook's sheet laid out as clerks do: a merged bold title in row 1, the header in row 2.

    Column widths follow `widths`; panes are frozen below the header. Data
    rows start at row 3.
    """
    sheet = workbook.active
    sheet.title = sheet_name
    sheet.cell(row=1, column=1, value=title).font = Font(bold=True, size=14)
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    sheet.cell(row=1, column=1).alignment = Alignment(horizontal="center", vertical="center")
    sheet.row_dimensions[1].height = 28
    for column, (text, width) in enumerate(zip(header, widths), start=1):
        cell = sheet.cell(row=2, column=column, value=text)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center")
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.freeze_panes = "A3"
    return sheet


def fill_row(sheet: Worksheet, row: int, values: Sequence[object],
             column_formats: Mapping[int, str] | None = None) -> None:
    """Write `values` into `row` from column 1; date values get the number format yyyy-mm-dd.

    `column_formats` ({column: number format}) overrides that for given
    columns, e.g. "@" for an ID column formatted as text, as clerks are told to.
    """
    formats = column_formats or {}
    for column, value in enumerate(values, start=1):
        cell = sheet.cell(row=row, column=column, value=value)
        if column in formats:
            cell.number_format = formats[column]
        elif isinstance(value, dt.date):
            cell.number_format = "yyyy-mm-dd"


def csv_text(rows: Sequence[Sequence[str]], line_end: str) -> str:
    """`rows` as CSV text (minimal quoting) with the given line ending; the caller picks the encoding."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=line_end).writerows(rows)
    return buffer.getvalue()


def titled_csv_head(title: str, header: Sequence[str]) -> list[list[str]]:
    """The first two CSV rows of an Excel "save as CSV" of a sheet with a merged title.

    A title merged across the header's width comes out as the title followed
    by empty cells; the header follows on the second line.
    """
    return [[title] + [""] * (len(header) - 1), list(header)]


def check_gb18030_titled_csv(raw: bytes, title: str, what: str) -> None:
    """Check a CSV the way Excel saves it on a Chinese Windows: GB18030, CRLF, no BOM, title line first.

    `what` names the file in the error messages. GB18030 is checked by the
    bytes not decoding as UTF-8 (the Chinese text makes sure they would not).
    """
    check(not raw.startswith(UTF8_BOM), f"{what} must not carry a UTF-8 BOM")
    check(raw.count(b"\r\n") == raw.count(b"\n"), f"{what} line endings are not all CRLF")
    check(raw.split(b"\r\n", 1)[0].decode("gb18030").startswith(title), f"{what} title line is wrong")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return
    raise SampleDataError(f"{what} decodes as UTF-8; it must be GB18030")


# --------------------------------------------------------------------------
# Monthly deliveries
# --------------------------------------------------------------------------

# The file a department writes into a month's folder LAST, after all the
# month's extracts: its presence says the delivery is complete.
DELIVERY_MARKER = "_DELIVERED"

Writers = Mapping[str, Callable[[Path], None]]  # file name -> function writing that file at a path


def months(year: int) -> list[str]:
    """The twelve delivery months of `year` as folder names, `YYYY-01` .. `YYYY-12`."""
    return [f"{year}-{month:02d}" for month in range(1, 13)]


def month_of(day: dt.date, year: int) -> str:
    """The delivery month (`YYYY-MM`) of something dated `day` (a date, or a local date-time).

    Its calendar month, clamped into `year`: anything dated before the year
    goes into its first month, anything after into its last.
    """
    if day.year < year:
        return f"{year}-01"
    if day.year > year:
        return f"{year}-12"
    return f"{year}-{day.month:02d}"


def split_by_month(items: Sequence[T], date_of: Callable[[T], dt.date], year: int) -> dict[str, list[T]]:
    """`items` by delivery month (`month_of` their date), every month of `year` a key, order kept."""
    split: dict[str, list[T]] = {month: [] for month in months(year)}
    for item in items:
        split[month_of(date_of(item), year)].append(item)
    return split


def month_end(month: str) -> dt.date:
    """The last day of a `YYYY-MM` month."""
    year, number = (int(part) for part in month.split("-"))
    return dt.date(year + number // 12, number % 12 + 1, 1) - dt.timedelta(days=1)


def month_label(month: str) -> str:
    """`2023-03` as a title names it: `2023年3月`."""
    year, number = (int(part) for part in month.split("-"))
    return f"{year}年{number}月"


def month_end_label(month: str) -> str:
    """The last day of `2023-03` as a snapshot's title names it: `2023年3月31日`."""
    day = month_end(month)
    return f"{day.year}年{day.month}月{day.day}日"


def snapshot_at(items: Sequence[T], month: str, start: Callable[[T], dt.date],
                end: Callable[[T], dt.date | None], without_end: Callable[[T], T]) -> list[T]:
    """A register as it stood at the end of `month`, order kept.

    Rows that have started by the month's last day; a row whose end date
    falls after that day is given blank (`without_end(row)`): the end was not
    yet known then.
    """
    last = month_end(month)
    return [item if end(item) is None or end(item) <= last else without_end(item)
            for item in items if start(item) <= last]


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def delivery_note(month_dir: Path, department: str, month: str, file_names: Sequence[str]) -> str:
    """The text of a month's `_DELIVERED` marker: a header line, then `<file name>  <sha256>` per file.

    A month with nothing to report says so instead of listing files.
    """
    lines = [f"synthetic sample delivery: {department} {month}"]
    if not file_names:
        lines.append("nothing to report this month: no extract has a row dated in it, so no files")
    lines += [f"{name}  {file_sha256(month_dir / name)}" for name in file_names]
    return "\n".join(lines) + "\n"


def write_delivery(month_dir: Path, department: str, month: str, writers: Writers) -> None:
    """Write one month's delivery: its files in `writers` order, then the `_DELIVERED` marker last."""
    month_dir.mkdir(parents=True, exist_ok=True)
    for file_name, write in writers.items():
        write(month_dir / file_name)
    note = delivery_note(month_dir, department, month, list(writers))
    (month_dir / DELIVERY_MARKER).write_bytes(note.encode("utf-8"))


def write_months_verify_move(department_dir: Path, department: str, deliveries: Mapping[str, Writers],
                             verify: Callable[[Path], T], *, prefix: str,
                             possible_names: Callable[[str], Sequence[str]],
                             stale: Sequence[Path] = ()) -> T:
    """Write every month's delivery into a scratch folder, verify there, then move them into place.

    `deliveries` maps each month (`YYYY-MM`) to its writers (empty: a month
    with nothing to report, a folder holding only the marker). Each month is
    written by `write_delivery` into `<scratch>/<month>/`; then
    `verify(scratch folder)` runs and raises `SampleDataError` if the files
    break a fact. Only then is each month moved into
    `department_dir/<month>/`: its old marker is removed first (the folder is
    not "delivered" while its files change), then the files (made 0644), and
    the new marker last. Files of an earlier run that this month no longer
    has are removed, but only names in `possible_names(month)` (what the
    generator can write for that month), never anything else. Then the
    `stale` paths (files of an older layout) are deleted and their folders
    removed if left empty.

    The scratch folder, named `prefix` + random characters (start it with a
    dot: the loader skips hidden folders), is made in `department_dir` and
    removed afterwards whether or not the run failed; a failed run leaves
    the old files alone.
    """
    department_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=department_dir, prefix=prefix) as scratch:
        scratch_dir = Path(scratch)
        for month, writers in deliveries.items():
            write_delivery(scratch_dir / month, department, month, writers)
        result = verify(scratch_dir)
        for month, writers in deliveries.items():
            source, target = scratch_dir / month, department_dir / month
            target.mkdir(exist_ok=True)
            (target / DELIVERY_MARKER).unlink(missing_ok=True)
            for name in possible_names(month):
                if name not in writers:
                    (target / name).unlink(missing_ok=True)
            for name in [*writers, DELIVERY_MARKER]:
                os.chmod(source / name, 0o644)
                os.replace(source / name, target / name)
    for path in stale:
        path.unlink(missing_ok=True)
    for folder in sorted({path.parent for path in stale}):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return result


def check_deliveries(root: Path, department: str, year: int) -> dict[str, list[str]]:
    """Check the twelve month folders under `root`; return each month's file names (marker excluded).

    Every month `YYYY-01` .. `YYYY-12` has a folder and nothing else is
    there (hidden names aside); each folder has `_DELIVERED`, whose note
    names the department and month, lists exactly the folder's other files
    with their SHA-256 (or, for an empty month, says there is nothing to
    report), and was written last (not older than any file it lists).
    """
    expected = months(year)
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    check(found == expected, f"{department}: month folders are {found}, expected {expected[0]} .. {expected[-1]}")
    files: dict[str, list[str]] = {}
    for month in expected:
        folder = root / month
        marker = folder / DELIVERY_MARKER
        check(marker.is_file(), f"{department} {month}: no {DELIVERY_MARKER} marker")
        names = sorted(p.name for p in folder.iterdir() if p.name != DELIVERY_MARKER and not p.name.startswith("."))
        lines = marker.read_bytes().decode("utf-8").splitlines()
        check(lines[0] == f"synthetic sample delivery: {department} {month}",
              f"{department} {month}: marker header is {lines[0]!r}")
        listed = dict(line.rsplit("  ", 1) for line in lines[1:] if "  " in line)
        check(sorted(listed) == names, f"{department} {month}: marker lists {sorted(listed)}, folder has {names}")
        for name, digest in listed.items():
            check(file_sha256(folder / name) == digest, f"{department} {month}: {name} differs from its marker hash")
            check((folder / name).stat().st_mtime_ns <= marker.stat().st_mtime_ns,
                  f"{department} {month}: {DELIVERY_MARKER} was written before {name}")
        check(bool(names) or any(line.startswith("nothing to report") for line in lines),
              f"{department} {month}: an empty month's marker must say there is nothing to report")
        files[month] = [name for name, _ in (line.rsplit("  ", 1) for line in lines[1:] if "  " in line)]
    return files


def month_files(root: Path, template: str, year: int) -> list[tuple[str, Path]]:
    """(month, path) of each month folder under `root` holding the file `template.format(month=month)`."""
    return [(month, root / month / template.format(month=month)) for month in months(year)
            if (root / month / template.format(month=month)).is_file()]


def check_union(what: str, expected_keys: Sequence[str] | None, union_keys: Sequence[str]) -> None:
    """The months' rows of an event extract, by key, are exactly the year's rows: same count, same keys."""
    if expected_keys is None:
        return
    check(len(union_keys) == len(expected_keys),
          f"{what}: the months hold {len(union_keys)} rows, the year has {len(expected_keys)}")
    check(sorted(union_keys) == sorted(expected_keys), f"{what}: the months' rows are not the year's rows")


# One month's snapshot of a register for check_snapshot_chain: {row key: (values, end values)}.
SnapshotRows = Mapping[object, tuple[tuple[object, ...], tuple[object, ...]]]


def check_snapshot_chain(what: str, snapshots: Sequence[tuple[str, SnapshotRows]]) -> None:
    """Each month's snapshot of a register is consistent with the next month's.

    `snapshots` is [(month, {row key: (values, end values)})] in month
    order. A row never disappears, and its values never change; its end
    values (an end date, and a note that records the end) may be blank
    (None) and filled later, but once set each stays as it was.
    """
    for (month, rows), (next_month, next_rows) in zip(snapshots, snapshots[1:]):
        for key, (values, ends) in rows.items():
            check(key in next_rows, f"{what}: row {key} of {month} is missing in {next_month}")
            next_values, next_ends = next_rows[key]
            check(values == next_values, f"{what}: row {key} changes between {month} and {next_month}")
            for end, next_end in zip(ends, next_ends, strict=True):
                check(end is None or end == next_end,
                      f"{what}: row {key}'s end {end!r} in {month} became {next_end!r} in {next_month}")


# --------------------------------------------------------------------------
# README blocks of generated figures
# --------------------------------------------------------------------------


def pct(part: float, whole: float) -> str:
    """`part` as a percentage of `whole`, two decimals and a spaced % sign, as the READMEs show rates."""
    return f"{100 * part / whole:.2f} %"


def figures_table(figures: Sequence[Figure], first_heading: str = "figure") -> list[str]:
    """A Markdown table of (figure, value, source) rows, the value column right-aligned."""
    lines = [f"| {first_heading} | value | source |", "| --- | ---: | --- |"]
    lines += [f"| {figure} | {value} | {source} |" for figure, value, source in figures]
    return lines


def generated_block(begin: str, end: str, script: str, body: Sequence[str]) -> str:
    """A README block between its BEGIN/END marker lines, saying which script regenerates it."""
    return "\n".join([
        begin,
        f"<!-- Regenerated on every run of {script} from the files it wrote; do not edit by hand. -->",
        "",
        *body,
        "",
        end,
    ])


def update_readme(readme: Path, blocks: Sequence[tuple[str, str, str]], log: logging.Logger,
                  what: str = "expected figures") -> None:
    """Replace each (begin, end, block) marker block in the README with `block`, if the README has it.

    A README without the file or the markers is warned about, not an error:
    the data files are what matters. The file is rewritten only when its
    text changes; `what` names the blocks in the log line that says so.
    `log` is the generator's logger, so the lines carry its name.
    """
    if not readme.exists():
        log.warning("%s not found; expected figures not written", readme)
        return
    text = readme.read_text(encoding="utf-8")
    updated = text
    for begin, end, block in blocks:
        start, stop = updated.find(begin), updated.find(end)
        if start < 0 or stop < start:
            log.warning("%s has no %r markers; that block was not written", readme, begin)
            continue
        updated = updated[:start] + block + updated[stop + len(end):]
    if updated != text:
        readme.write_text(updated, encoding="utf-8")
        log.info("updated the %s in %s", what, readme)


def deliveries_table(rows: Mapping[str, Mapping[str, int]], labels: Sequence[str],
                     snapshots: Sequence[str] = ()) -> list[str]:
    """A Markdown table of the monthly deliveries: per month, the rows of each extract's file.

    `rows` is {month: {extract label: rows in that month's file}}, `labels`
    the extracts in column order. A dash marks a month without that file;
    the last column counts the month's files (the `_DELIVERED` marker not
    included). The closing line sums the event extracts over the months;
    a snapshot register (a label in `snapshots`) is not summed.
    """
    lines = ["| month | " + " | ".join(labels) + " | files |", "| --- |" + " ---: |" * (len(labels) + 1)]
    for month, counts in rows.items():
        cells = [str(counts[label]) if label in counts else "—" for label in labels]
        lines.append(f"| {month} | " + " | ".join(cells) + f" | {len(counts)} |")
    totals = ["(snapshot)" if label in snapshots else f"**{sum(c.get(label, 0) for c in rows.values())}**"
              for label in labels]
    lines.append("| **year** | " + " | ".join(totals) + f" | **{sum(len(c) for c in rows.values())}** |")
    return lines


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def parse_args(description: str, default_out_dir: Path, files: str, no_readme_help: str,
               argv: list[str] | None) -> argparse.Namespace:
    """The generators' common options (--out-dir, --no-readme); also sets up INFO logging to stderr.

    `files` says what --out-dir receives ("the four files").
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out-dir", type=Path, default=default_out_dir,
                        help=f"folder for {files} (default: {default_out_dir})")
    parser.add_argument("--no-readme", action="store_true", help=no_readme_help)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return args


def print_figures(heading: str, figures: Sequence[Figure], value_width: int, preface: Sequence[str] = ()) -> None:
    """Print the heading, any preface lines, then the figures as aligned columns, for the console."""
    width = max(len(figure) for figure, _, _ in figures)
    print(heading)
    for line in preface:
        print(f"  {line}")
    for figure, value, source in figures:
        print(f"  {figure:<{width}}  {value:>{value_width}}  ({source})")
