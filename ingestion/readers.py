"""Read CSV and XLSX exports as chunks of text cells, whatever their quirks.

Department systems export with a title row above the header, Chinese
headers in several spellings, GB18030 or UTF-8 (with or without a byte-order
mark), and a totals row at the bottom. Readers find the header, map it to
the spec's columns, and yield DataFrames of *strings* (typing is the
parser's job) with the spreadsheet row number of each row, in bounded
chunks so memory stays flat in the file's size.

CSV files are cut into blocks of whole records (4 MiB), each
transcoded to UTF-8 if need be and split into cells by polars' reader;
Python's csv module takes over only for a block polars cannot read (a stray
quote, more cells than the header), so that such a row is named precisely.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ingestion.errors import ExtractError
from ingestion.spec import ExtractSpec

log = logging.getLogger(__name__)

ROW_NUMBER = "_row_number"
CHUNK_ROWS = 100_000  # rows per chunk of a workbook
_BLOCK = 1 << 20  # bytes per read of the encoding scan
CSV_BLOCK_BYTES = 4 << 20  # bytes per chunk of a CSV file (about 50,000 rows of a roster)
REPLACEMENT = "\ufffd"

_SPACES = re.compile(r"[\s\u3000]+")


def normalise_header(text: object) -> str:
    """Header text as compared with the spec: no spaces, full-width brackets as ASCII."""
    if text is None:
        return ""
    s = _SPACES.sub("", str(text))
    return s.replace("（", "(").replace("）", ")")


# --------------------------------------------------------------------------
# Encoding detection
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Encoding:
    """How a file's bytes decode, and where (if anywhere) they do not."""

    name: str  # codec name for Python: 'utf-8-sig', 'utf-8' or 'gb18030'
    label: str  # as recorded in the manifest
    # For UTF-8, the offset of the first byte that does not decode, None if
    # all do. GB18030 files are not scanned ahead: they are decoded block by
    # block while read, which finds the damage then.
    first_error_offset: int | None = None


_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")


def _has_cjk(text: str) -> bool:
    """Whether `text` holds Chinese (or full-width) characters: what UTF-8 Chinese text decodes to.

    GB18030 bytes read as UTF-8 now and then form a valid two-byte sequence
    (a Latin or IPA letter), almost never a Chinese character.
    """
    return _CJK.search(text) is not None


def _scan(path: Path, codec: str) -> tuple[int | None, bool]:
    """Decode the whole file incrementally; return (first error offset, whether Chinese text came before it)."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    offset = 0
    non_ascii = False
    with path.open("rb") as fh:
        while True:
            block = fh.read(_BLOCK)
            final = not block
            try:
                text = decoder.decode(block, final=final)
            except UnicodeDecodeError as exc:
                # The valid text before the error, in this block, counts too.
                before = block[: max(exc.start, 0)].decode(codec, errors="ignore")
                return offset + exc.start, non_ascii or _has_cjk(before)
            non_ascii = non_ascii or _has_cjk(text)
            if final:
                return None, non_ascii
            offset += len(block)


def detect_encoding(path: Path) -> Encoding:
    """Decide between UTF-8 (with or without BOM) and GB18030.

    A file that decodes as UTF-8 is UTF-8: GB18030 text practically never
    does. If UTF-8 fails only after valid UTF-8 Chinese text, the file is
    UTF-8 with damaged bytes, not GB18030 (GB18030 would decode the damage
    into plausible but wrong characters). Otherwise it is GB18030.
    Undecodable bytes are not fatal here: the reader replaces them and the
    parser rejects exactly the rows that hold them.
    """
    with path.open("rb") as fh:
        head = fh.read(3)
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise ExtractError(
            "the file is UTF-16 text (Excel's 'Unicode text'), which govkpi does not read",
            file=path.name,
            action="Save it from Excel as 'CSV UTF-8' (or as CSV in GB18030) and deliver it again",
        )
    if head == codecs.BOM_UTF8:
        err, _ = _scan(path, "utf-8-sig")
        return Encoding("utf-8-sig", "utf-8-bom", err)
    err, non_ascii = _scan(path, "utf-8")
    if err is None:
        return Encoding("utf-8", "utf-8")
    if non_ascii:
        return Encoding("utf-8", "utf-8", err)
    return Encoding("gb18030", "gb18030")


# --------------------------------------------------------------------------
# Header location and mapping
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class HeaderMap:
    """Where the header row is and which file column feeds which spec column."""

    row_number: int  # 1-based row of the header's last row in the file / sheet; data follows
    positions: dict[str, int]  # spec column name -> 0-based position in the row
    headers: dict[str, str]  # spec column name -> header text as written in the file
    ignored: tuple[str, ...]
    unknown: tuple[str, ...]


def _alias_lookup(spec: ExtractSpec) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for col in spec.columns:
        for alias in (col.name, *col.aliases):
            lookup[normalise_header(alias)] = col.name
    return lookup


def _header_cells(rows: list[list[object]], idx: int, header_rows: int) -> list[list[str]]:
    """Per column, the header texts to try: the cell itself, or for a two-row
    header the lower cell, the (merged, so forward-filled) group above it, and both joined."""
    if header_rows == 1:
        return [[normalise_header(c)] for c in rows[idx]]
    upper_raw = rows[idx]
    lower = rows[idx + 1] if idx + 1 < len(rows) else []
    width = max(len(upper_raw), len(lower))
    upper: list[str] = []
    group = ""
    for pos in range(width):
        cell = normalise_header(upper_raw[pos]) if pos < len(upper_raw) else ""
        group = cell or group
        upper.append(cell if cell else group)
    cells = []
    for pos in range(width):
        low = normalise_header(lower[pos]) if pos < len(lower) else ""
        own_upper = normalise_header(upper_raw[pos]) if pos < len(upper_raw) else ""
        if low:
            cells.append([low, f"{upper[pos]}/{low}", f"{upper[pos]}{low}"])
        else:
            # A cell merged over both header rows keeps its text in the upper row.
            cells.append([own_upper])
    return cells


def map_header(spec: ExtractSpec, rows: list[list[object]], file: str) -> HeaderMap:
    """Find the header among the first rows and map it to the spec.

    The header is the first row (or pair of rows, for a spec with a two-row
    header) naming at least half of the spec's required columns; a required
    column that is then absent refuses the file.
    """
    lookup = _alias_lookup(spec)
    ignored = {normalise_header(h) for h in spec.ignored_headers}
    required = [c.name for c in spec.columns if c.required]
    found_at: int | None = None
    for idx in range(min(spec.header_search_rows, len(rows))):
        cells = _header_cells(rows, idx, spec.header_rows)
        found = {lookup[t] for options in cells for t in options if t in lookup}
        score = sum(1 for name in required if name in found)
        if score > 0 and score * 2 >= len(required):
            found_at = idx
            break
    if found_at is None:
        expected = ", ".join(f"{spec.column(n).aliases[0]!r}" for n in required)
        raise ExtractError(
            f"no header row found in the first {spec.header_search_rows} rows for extract "
            f"{spec.name} (expected columns such as {expected})",
            file=file,
            action="Check that this is the right file and that its header row was exported",
        )
    last_header_row = found_at + spec.header_rows  # 1-based number of the header's last row
    positions: dict[str, int] = {}
    headers: dict[str, str] = {}
    unknown: list[str] = []
    ignored_seen: list[str] = []
    for pos, options in enumerate(_header_cells(rows, found_at, spec.header_rows)):
        options = [t for t in options if t]
        if not options:
            continue
        shown = options[0]
        name = next((lookup[t] for t in options if t in lookup), None)
        if name is not None:
            if name in positions:
                raise ExtractError(
                    f"two columns map to {name!r} ({headers[name]!r} and {shown!r})",
                    file=file,
                    row=last_header_row,
                    column=shown,
                    action="Remove the duplicate column and re-send the file",
                )
            positions[name] = pos
            headers[name] = shown
        elif any(t in ignored for t in options):
            ignored_seen.append(shown)
        else:
            unknown.append(shown)
    for col in spec.columns:
        if col.required and col.name not in positions:
            raise ExtractError(
                f"required column missing: none of {list(col.aliases)} is in the header",
                file=file,
                row=last_header_row,
                column=col.aliases[0],
                action="Re-export the file with this column (or add its header spelling to the spec)",
            )
    if unknown:
        log.warning("%s: columns not in spec %s are not loaded: %s", file, spec.name, ", ".join(unknown))
    return HeaderMap(last_header_row, positions, headers, tuple(ignored_seen), tuple(unknown))


# --------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------


@dataclass
class Chunk:
    """Rows of a file as text: one column per spec column (null where empty) and the row number."""

    rows: pl.DataFrame
    # False when every byte of these rows decoded cleanly: no cell can hold U+FFFD from damage.
    may_hold_undecodable: bool


@dataclass
class OpenedExtract:
    """A file ready to stream: its encoding, header and chunk iterator."""

    path: Path
    encoding: str
    header: HeaderMap
    chunks: Iterator[Chunk]


def _text_schema(spec: ExtractSpec) -> dict[str, pl.DataType]:
    return {**{col.name: pl.String() for col in spec.columns}, ROW_NUMBER: pl.Int64()}


def _frame(spec: ExtractSpec, header: HeaderMap, rows: list[list[object]], numbers: list[int]) -> pl.DataFrame:
    data: dict[str, list] = {}
    for col in spec.columns:
        pos = header.positions.get(col.name)
        if pos is None:
            data[col.name] = [None] * len(rows)
        else:
            data[col.name] = [(_cell_text(r[pos]) or None) if pos < len(r) else None for r in rows]
    data[ROW_NUMBER] = numbers
    return pl.DataFrame(data, schema=_text_schema(spec))


def _cell_text(value: object) -> str:
    """An Excel cell as the text a clerk sees, keeping what matters for validation."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        # Large numbers (an ID typed into a number cell) keep Excel's
        # scientific form so the validator can say what happened.
        return repr(value)
    return str(value)


def _is_blank(row: list[object]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in row)


def _is_totals(spec: ExtractSpec, row: list[object]) -> bool:
    """A row whose first filled cell is, or begins with, a totals marker (合计, 合计：10人, 总计...)."""
    first = next((c for c in row if c is not None and str(c).strip()), None)
    return isinstance(first, str) and _SPACES.sub("", first).startswith(tuple(spec.totals_markers))


def _filtered_chunks(
    spec: ExtractSpec, header: HeaderMap, rows: Iterator[tuple[int, list[object]]], file: str
) -> Iterator[Chunk]:
    buffer: list[list[object]] = []
    numbers: list[int] = []
    for number, row in rows:
        if _is_blank(row):
            continue
        if _is_totals(spec, row):
            log.info("%s: row %d is a totals row, not data; skipped", file, number)
            continue
        buffer.append(row)
        numbers.append(number)
        if len(buffer) >= CHUNK_ROWS:
            yield Chunk(_frame(spec, header, buffer, numbers), False)
            buffer, numbers = [], []
    if buffer:
        yield Chunk(_frame(spec, header, buffer, numbers), False)


def open_xlsx(spec: ExtractSpec, path: Path) -> OpenedExtract:
    """Stream an XLSX workbook's sheet (the spec's, else the first) in read-only mode."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        with path.open("rb") as fh:
            start = fh.read(4096)
        if b"\x00" not in start and b"," in start and not start.startswith(b"PK"):
            raise ExtractError(
                "the file is named .xlsx but holds CSV text, not a workbook",
                file=path.name,
                action="Rename it to .csv (or save it from Excel as .xlsx) and deliver it again",
            ) from exc
        raise ExtractError(
            f"cannot be opened as an Excel workbook ({exc.__class__.__name__}: {exc})",
            file=path.name,
            action="Re-export the file as .xlsx from the department system",
        ) from exc
    if spec.sheet and spec.sheet in workbook.sheetnames:
        sheets = [workbook[spec.sheet]]
    else:
        # the first sheet, else the first that has the header (a notes sheet may come first)
        sheets = list(workbook.worksheets)
    failure: ExtractError | None = None
    for sheet in sheets:
        rows_iter = sheet.iter_rows(values_only=True)
        head: list[list[object]] = []
        for row in rows_iter:
            head.append(list(row))
            if len(head) >= spec.header_search_rows:
                break
        try:
            header = map_header(spec, head, path.name)
        except ExtractError as exc:
            failure = failure or exc
            continue
        if sheet is not sheets[0]:
            log.warning("%s: no header on sheet %r; reading sheet %r", path.name, sheets[0].title, sheet.title)
        break
    else:
        workbook.close()
        raise failure if failure else ExtractError("the workbook has no sheet", file=path.name, action="Re-export it")
    after_header = head[header.row_number :]

    def numbered() -> Iterator[tuple[int, list[object]]]:
        number = header.row_number
        for row in after_header:
            number += 1
            yield number, row
        for row in rows_iter:
            number += 1
            yield number, list(row)
        workbook.close()

    return OpenedExtract(path, "xlsx", header, _filtered_chunks(spec, header, numbered(), path.name))


# --------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------


def _record_end(buf: bytes) -> int | None:
    """Where the last whole record of `buf` ends: after a line break outside quotes.

    In UTF-8 and GB18030 the bytes of '"' and of a line break never occur
    inside a multi-byte character, so counting them in the raw bytes is
    exact: a line break ends a record when the quotes before it pair up.
    """
    end = buf.rfind(b"\n")
    if end < 0:
        return None
    quotes = buf.count(b'"', 0, end)
    while quotes % 2:
        previous = buf.rfind(b"\n", 0, end)
        if previous < 0:
            return None
        quotes -= buf.count(b'"', previous, end)
        end = previous
    return end + 1


def _record_blocks(fh: io.BufferedReader) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of the rest of the file in blocks of whole records.

    A quoted cell with a line break in it is never cut. A file whose quotes
    never pair up (a stray quote) makes one block of the rest of the file,
    which Python's csv module then reads (a quote inside a cell as text).
    """
    offset = fh.tell()
    carry = b""
    while True:
        data = fh.read(CSV_BLOCK_BYTES)
        if not data:
            if carry:
                yield offset, carry
            return
        buf = carry + data if carry else data
        cut = _record_end(buf)
        if cut is None:
            carry = buf
            continue
        yield offset, buf[:cut]
        offset += cut
        carry = buf[cut:]


def _head_records(fh: io.BufferedReader, codec: str, count: int) -> tuple[list[list[object]], list[int]]:
    """The first `count` records, and the byte offset at which each ends."""
    ends: list[int] = []
    position = fh.tell()

    def lines() -> Iterator[str]:
        nonlocal position
        for raw in iter(fh.readline, b""):
            position += len(raw)
            yield raw.decode(codec, errors="replace")

    rows: list[list[object]] = []
    try:
        for record in csv.reader(lines()):
            rows.append(list(record))
            ends.append(position)
            if len(rows) >= count:
                break
    except csv.Error:
        pass  # an unterminated quote in the first rows: the header search says what is missing
    return rows, ends


def _cells_by_csv_module(text: str, width: int, first_row: int, file: str) -> pl.DataFrame:
    """A block polars refused, read with Python's csv module so the bad row can be named."""
    rows: list[list[str | None]] = []
    try:
        for index, record in enumerate(csv.reader(io.StringIO(text, newline=""))):
            if len(record) > width and any(cell.strip() for cell in record[width:]):
                raise ExtractError(
                    f"the line has {len(record)} cells, more than the {width} of the header",
                    file=file,
                    row=first_row + index,
                    action="Check for an unquoted comma or a line break inside a cell and re-export",
                )
            cells = [cell or None for cell in record[:width]]
            rows.append(cells + [None] * (width - len(cells)))
    except csv.Error as exc:
        raise ExtractError(
            f"the line cannot be split into the header's columns ({exc})",
            file=file,
            row=first_row + len(rows),
            action="Check for an unquoted comma or a line break inside a cell and re-export",
        ) from None
    return pl.DataFrame(rows, schema={f"c{i}": pl.String() for i in range(width)}, orient="row")


def _totals_rows(spec: ExtractSpec, cells: pl.DataFrame, names: list[str]) -> pl.Series:
    """Which rows hold a totals marker (合计, 总计, 小计) in a read cell, spaces ignored.

    A totals row leaves cells empty (it has no ID, no name), so only rows
    with an empty cell, and not all empty, are examined: on a clean
    million-row file, none.
    """
    empty = [pl.col(c).is_null() for c in names]
    candidates = cells.select(pl.any_horizontal(empty) & ~pl.all_horizontal(empty)).to_series()
    totals = pl.repeat(False, cells.height, eager=True)
    if not candidates.any():
        return totals
    pattern = "^(" + "|".join(re.escape(m) for m in spec.totals_markers) + ")"
    marked = cells.filter(candidates).select(
        pl.coalesce(pl.col(c).str.replace_all(r"[\s\u3000]+", "").replace("", None) for c in names)
        .str.contains(pattern).fill_null(False)
    ).to_series()
    return totals.scatter(candidates.arg_true().filter(marked), True)


@dataclass(frozen=True)
class _Utf8Block:
    utf8: bytes
    first_error: int | None  # offset in the block of the first byte that did not decode, None if all did


def _utf8_blocks(blocks: Iterator[tuple[int, bytes]], codec: str) -> Iterator[tuple[int, int, _Utf8Block]]:
    """(offset, size in the file, text as UTF-8) of each block: GB18030 is transcoded for polars' reader."""
    for offset, block in blocks:
        if codec != "gb18030":
            yield offset, len(block), _Utf8Block(block, None)
            continue
        try:
            yield offset, len(block), _Utf8Block(block.decode(codec).encode("utf-8"), None)
        except UnicodeDecodeError as exc:
            yield offset, len(block), _Utf8Block(block.decode(codec, errors="replace").encode("utf-8"), exc.start)


def _looks_big5(path: Path) -> bool:
    """Whether the file reads as Big5 (Traditional Chinese) and not as GB18030 text.

    Big5 bytes decode as GB18030 too, into characters a Chinese text of the
    mainland seldom uses: nearly every character of a real GB18030 export is
    in GB2312's common set, few of a Big5 file's misread ones are.
    """
    with path.open("rb") as fh:
        head = fh.read(65536)
    cut = head.rfind(b"\n")
    head = head[: cut + 1] if cut > 0 else head
    try:
        head.decode("big5")
    except UnicodeDecodeError:
        return False
    chinese = [c for c in head.decode("gb18030", errors="replace") if "\u4e00" <= c <= "\u9fff"]
    if len(chinese) < 10:
        return False
    common = 0
    for c in chinese:
        try:
            c.encode("gb2312")
            common += 1
        except UnicodeEncodeError:
            pass
    return common / len(chinese) < 0.6


def _other_separator(rows: list[list[object]]) -> str | None:
    """'tabs' or 'semicolons' when the first rows are single cells split by one of them, else None."""
    lines = [str(r[0]) for r in rows if len(r) == 1]
    for char, name in (("\t", "tabs"), (";", "semicolons")):
        if len([line for line in lines if line.count(char) >= 3]) >= 2:
            return name
    return None


def open_csv(spec: ExtractSpec, path: Path) -> OpenedExtract:
    """Stream a CSV export in blocks of whole records, split into cells by polars.

    Bytes that do not decode become U+FFFD; the parser rejects those rows
    naming the column, and every other row is kept.
    """
    encoding = detect_encoding(path)
    codec = "utf-8" if encoding.name == "utf-8-sig" else encoding.name
    fh = path.open("rb")
    if encoding.name == "utf-8-sig":
        fh.read(3)
    head, ends = _head_records(fh, codec, spec.header_search_rows)
    try:
        header = map_header(spec, head, path.name)
    except ExtractError:
        fh.close()
        separator = _other_separator(head)
        if codec == "gb18030" and _looks_big5(path):
            raise ExtractError(
                "the file is Big5 (Traditional Chinese) text; govkpi reads UTF-8 and GB18030",
                file=path.name,
                action="Save it as 'CSV UTF-8' (or as GB18030) and deliver it again",
            ) from None
        if separator:
            raise ExtractError(
                f"the file's columns are separated by {separator}, not commas",
                file=path.name,
                action="Save it as CSV (comma-separated), UTF-8 or GB18030, and deliver it again",
            ) from None
        raise
    width = max(len(row) for row in head)
    # The first column is read too, even when not loaded: that is where a
    # totals row says 合计 (under 序号).
    read = sorted(set(header.positions.values()) | {0})
    read_names = [f"c{i}" for i in read]
    schema = {f"c{i}": pl.String() for i in range(width)}
    fh.seek(ends[min(header.row_number, len(ends)) - 1])

    def chunks() -> Iterator[Chunk]:
        next_row = header.row_number + 1
        damage_logged = False
        with fh:
            for offset, size, block in _utf8_blocks(_record_blocks(fh), codec):
                data = block.utf8
                if codec == "gb18030":
                    damaged = block.first_error is not None
                    first_error = offset + block.first_error if block.first_error is not None else None
                else:  # UTF-8 was scanned ahead: this block and those after the first bad byte may hold U+FFFD
                    first_error = encoding.first_error_offset
                    damaged = first_error is not None and first_error < offset + size
                if damaged and not damage_logged:
                    log.warning(
                        "%s: bytes at offset %d do not decode as %s; the rows holding them will be rejected",
                        path.name, first_error, encoding.label,
                    )
                    damage_logged = True
                try:
                    cells = pl.read_csv(
                        data, has_header=False, schema=schema, columns=read, encoding="utf8-lossy" if damaged else "utf8",
                        raise_if_empty=False, missing_columns="insert",
                    )
                except pl.exceptions.PolarsError:
                    text = data.decode("utf-8", errors="replace")
                    cells = _cells_by_csv_module(text, width, next_row, path.name).select(read_names)
                count = cells.height
                frame = cells.select(
                    *(
                        pl.col(f"c{header.positions[col.name]}").alias(col.name) if col.name in header.positions
                        else pl.lit(None, dtype=pl.String).alias(col.name)
                        for col in spec.columns
                    ),
                    pl.int_range(next_row, next_row + count, dtype=pl.Int64).alias(ROW_NUMBER),
                )
                next_row += count
                skipped = cells.select(pl.all_horizontal(pl.col(read_names).is_null())).to_series()
                totals = _totals_rows(spec, cells, read_names)
                if totals.any():
                    log.info("%s: rows %s are totals rows, not data; skipped", path.name, frame.filter(totals)[ROW_NUMBER].to_list())
                    skipped = skipped | totals
                rows = frame.filter(~skipped) if skipped.any() else frame
                if rows.height:
                    yield Chunk(rows, damaged)

    return OpenedExtract(path, encoding.label, header, chunks())


def open_extract(spec: ExtractSpec, path: Path) -> OpenedExtract:
    """Open a delivered file by its extension."""
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise ExtractError(
            "the file is empty (0 bytes)",
            file=path.name,
            action="The export or the copy failed: export the file again and deliver it with its rows",
        )
    if suffix in (".xlsx", ".xlsm"):
        return open_xlsx(spec, path)
    if suffix in (".csv", ".txt"):
        return open_csv(spec, path)
    raise ExtractError(
        f"unsupported file type {suffix!r}",
        file=path.name,
        action="Send the extract as .csv (UTF-8 or GB18030) or .xlsx",
    )


__all__ = [
    "CHUNK_ROWS",
    "CSV_BLOCK_BYTES",
    "Chunk",
    "ROW_NUMBER",
    "REPLACEMENT",
    "Encoding",
    "HeaderMap",
    "OpenedExtract",
    "detect_encoding",
    "map_header",
    "normalise_header",
    "open_extract",
]
