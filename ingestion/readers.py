"""Read CSV and XLSX exports as chunks of text cells, whatever their quirks.

Department systems export with a title row above the header, Chinese
headers in several spellings, GB18030 or UTF-8 (with or without a byte-order
mark), and a totals row at the bottom. Readers find the header, map it to
the spec's columns, and yield DataFrames of *strings* (typing is the
parser's job) with the spreadsheet row number of each row, in bounded
chunks so memory stays flat in the file's size.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ingestion.errors import ExtractError
from ingestion.spec import ExtractSpec

log = logging.getLogger(__name__)

ROW_NUMBER = "_row_number"
CHUNK_ROWS = 100_000
_BLOCK = 1 << 20
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
    first_error_offset: int | None = None


def _scan(path: Path, codec: str) -> tuple[int | None, bool]:
    """Decode the whole file incrementally; return (first error offset, whether non-ASCII text came before it)."""
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
                return offset + exc.start, non_ascii or not before.isascii()
            non_ascii = non_ascii or not text.isascii()
            if final:
                return None, non_ascii
            offset += len(block)


def detect_encoding(path: Path) -> Encoding:
    """Decide between UTF-8 (with or without BOM) and GB18030.

    A file that decodes as UTF-8 is UTF-8: GB18030 text practically never
    does. If UTF-8 fails only after valid multi-byte UTF-8 text, the file is
    UTF-8 with damaged bytes, not GB18030 (GB18030 would decode the damage
    into plausible but wrong characters). Otherwise GB18030 is tried.
    Undecodable bytes are not fatal here: the reader replaces them and the
    parser rejects exactly the rows that hold them.
    """
    with path.open("rb") as fh:
        head = fh.read(3)
    if head == codecs.BOM_UTF8:
        err, _ = _scan(path, "utf-8-sig")
        return Encoding("utf-8-sig", "utf-8-bom", err)
    err, non_ascii = _scan(path, "utf-8")
    if err is None:
        return Encoding("utf-8", "utf-8")
    if non_ascii:
        return Encoding("utf-8", "utf-8", err)
    gb_err, _ = _scan(path, "gb18030")
    return Encoding("gb18030", "gb18030", gb_err)


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
class OpenedExtract:
    """A file ready to stream: its encoding, header and chunk iterator."""

    path: Path
    encoding: str
    header: HeaderMap
    chunks: Iterator[pd.DataFrame]
    # False when every byte decoded cleanly: no cell can hold U+FFFD from damage.
    may_hold_undecodable: bool = True


def _frame(spec: ExtractSpec, header: HeaderMap, rows: list[list[object]], numbers: list[int]) -> pd.DataFrame:
    data: dict[str, list[str]] = {}
    for col in spec.columns:
        pos = header.positions.get(col.name)
        if pos is None:
            data[col.name] = [""] * len(rows)
        else:
            data[col.name] = [_cell_text(r[pos]) if pos < len(r) else "" for r in rows]
    frame = pd.DataFrame(data, dtype=object)
    frame[ROW_NUMBER] = numbers
    return frame


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


def _totals_rows(spec: ExtractSpec, part: pd.DataFrame) -> pd.Series:
    """Rows of a CSV chunk with a totals marker (合计, 总计, 小计) in any read cell, spaces ignored.

    A totals row leaves cells empty (it has no ID, no name), so only rows
    with an empty cell are examined: on a clean million-row file, none.
    """
    candidates = pd.Series(False, index=part.index)
    for column in part.columns:
        candidates |= part[column] == ""
    subset = part[candidates]
    # Of those, only rows with 计 somewhere (all markers have it) are read cell by cell.
    marked = pd.Series(False, index=subset.index)
    for column in subset.columns:
        marked |= subset[column].str.contains("计", regex=False).fillna(False).astype(bool)
    totals = pd.Series(False, index=part.index)
    hits = [idx for idx, row in zip(subset.index[marked], subset[marked].itertuples(index=False)) if _is_totals(spec, list(row))]
    totals[hits] = True
    return totals


def _is_totals(spec: ExtractSpec, row: list[object]) -> bool:
    return any(isinstance(c, str) and _SPACES.sub("", c) in spec.totals_markers for c in row)


def _filtered_chunks(
    spec: ExtractSpec, header: HeaderMap, rows: Iterator[tuple[int, list[object]]], file: str
) -> Iterator[pd.DataFrame]:
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
            yield _frame(spec, header, buffer, numbers)
            buffer, numbers = [], []
    if buffer:
        yield _frame(spec, header, buffer, numbers)


def open_xlsx(spec: ExtractSpec, path: Path) -> OpenedExtract:
    """Stream an XLSX workbook's sheet (the spec's, else the first) in read-only mode."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise ExtractError(
            f"cannot be opened as an Excel workbook ({exc.__class__.__name__}: {exc})",
            file=path.name,
            action="Re-export the file as .xlsx from the department system",
        ) from exc
    sheet = workbook[spec.sheet] if spec.sheet and spec.sheet in workbook.sheetnames else workbook.worksheets[0]
    rows_iter = sheet.iter_rows(values_only=True)
    head: list[list[object]] = []
    for row in rows_iter:
        head.append(list(row))
        if len(head) >= spec.header_search_rows:
            break
    header = map_header(spec, head, path.name)
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

    return OpenedExtract(path, "xlsx", header, _filtered_chunks(spec, header, numbered(), path.name), False)


def open_csv(spec: ExtractSpec, path: Path) -> OpenedExtract:
    """Stream a CSV export in chunks with pandas' C parser.

    Bytes that do not decode become U+FFFD; the parser rejects those rows
    naming the column, and every other row is kept.
    """
    encoding = detect_encoding(path)
    if encoding.first_error_offset is not None:
        log.warning(
            "%s: bytes at offset %d do not decode as %s; the rows holding them will be rejected",
            path.name,
            encoding.first_error_offset,
            encoding.label,
        )
    head: list[list[object]] = []
    with path.open("r", encoding=encoding.name, errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        for row in reader:
            head.append(list(row))
            if len(head) >= spec.header_search_rows:
                break
    header = map_header(spec, head, path.name)
    # The first column is read too, even when not loaded: that is where a
    # totals row says 合计 (under 序号).
    usecols = sorted(set(header.positions.values()) | {0})

    def chunks() -> Iterator[pd.DataFrame]:
        reader = pd.read_csv(
            path,
            encoding=encoding.name,
            encoding_errors="replace",
            skiprows=header.row_number,
            header=None,
            usecols=usecols,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            chunksize=CHUNK_ROWS,
            engine="c",
        )
        first = header.row_number + 1
        by_position = {pos: name for name, pos in header.positions.items()}
        for part in _parsed_or_refused(reader, path.name, header.row_number):
            frame = pd.DataFrame(index=part.index)
            for col in spec.columns:
                pos = header.positions.get(col.name)
                frame[col.name] = part[pos] if pos is not None else ""
            frame[ROW_NUMBER] = part.index + first
            cells = frame[list(by_position.values())]
            blank = (cells == "").all(axis=1) & (part[0] == "")
            totals = _totals_rows(spec, part)
            if totals.any():
                log.info("%s: rows %s are totals rows, not data; skipped", path.name, frame.loc[totals, ROW_NUMBER].tolist())
            yield frame[~(blank | totals)].reset_index(drop=True)

    return OpenedExtract(path, encoding.label, header, chunks(), encoding.first_error_offset is not None)


def _parsed_or_refused(reader: Iterator[pd.DataFrame], file: str, header_row: int) -> Iterator[pd.DataFrame]:
    """pandas' chunks, with a malformed line turned into a message a clerk can act on."""
    try:
        yield from reader
    except pd.errors.ParserError as exc:
        match = re.search(r"line (\d+)", str(exc))
        row = header_row + int(match.group(1)) if match else None
        raise ExtractError(
            f"the line cannot be split into the header's columns ({exc})",
            file=file,
            row=row,
            action="Check for an unquoted comma or a line break inside a cell and re-export",
        ) from None


def open_extract(spec: ExtractSpec, path: Path) -> OpenedExtract:
    """Open a delivered file by its extension."""
    suffix = path.suffix.lower()
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
