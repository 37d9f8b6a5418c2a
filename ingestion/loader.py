"""Load a department's delivered files into `raw` with `COPY`, recording everything.

A *batch* is one delivery of a department: the new files found in its
landing folders. It is loaded in one transaction: either every file in it is
loaded (rows that fail validation go to `audit.quarantine`, valid rows are
kept) or, if any file must be refused as a whole (a missing column, far too
many bad rows, two files for one extract and period), nothing of the batch
is loaded and the refusal is recorded. So nothing half-loaded is ever seen
by the warehouse build.

Files are recognised by content: bytes already in the manifest are not
loaded again. A new file for an extract and period that already has one
supersedes it (a department's correction); the old file stays listed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import logging
import queue
import re
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from govkpi.delivery import DELIVERY_MARKER, PERIOD
from govkpi.errors import GovkpiError
from ingestion.areas import AreaRegister
from ingestion.ddl import RAW_SCHEMA, ensure_schema, returned
from ingestion.errors import ExtractError
from ingestion.parsers import ParsedChunk, parse_chunk
from ingestion.pii import Pseudonymiser
from ingestion.readers import CSV_BLOCK_BYTES, ROW_NUMBER, open_extract
from ingestion.spec import TOWNSHIP, ColumnType, Department, ExtractSpec
from ingestion.worker import Worker

log = logging.getLogger(__name__)

REPORTED_REJECTS = 20


class BatchRefused(GovkpiError):
    """A delivery was refused as a whole; nothing of it was loaded."""

    def __init__(self, batch_id: int, error: ExtractError) -> None:
        self.batch_id = batch_id
        self.error = error
        super().__init__(f"batch {batch_id} refused, nothing loaded: {error}")


@dataclass(frozen=True)
class DeliveredFile:
    """A file found in the landing folder, with its department, period and extract."""

    path: Path
    department: str
    period: str
    spec: ExtractSpec


@dataclass
class FileOutcome:
    file_name: str
    extract: str
    period: str
    status: str  # 'loaded' | 'already_loaded' | 'previously_refused'
    file_id: int | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    message: str = ""


@dataclass
class BatchOutcome:
    department: str
    batch_id: int | None
    status: str  # 'loaded' | 'nothing_new'
    files: list[FileOutcome] = field(default_factory=list)
    rejects: list[str] = field(default_factory=list)  # the first quarantined problems, readable

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    def summary(self) -> str:
        lines = [f"{self.department}: batch {self.batch_id or '-'} {self.status}"]
        for f in self.files:
            lines.append(
                f"  {f.file_name} [{f.extract} {f.period}] {f.status}: read {f.rows_read}, "
                f"loaded {f.rows_loaded}, rejected {f.rows_rejected}{' - ' + f.message if f.message else ''}"
            )
        if self.rejects:
            lines.append(f"  quarantined (first {len(self.rejects)}):")
            lines.extend(f"    {r}" for r in self.rejects)
        return "\n".join(lines)


# --------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------


def discover(landing_dir: Path, department: Department, periods: Iterable[str] | None = None) -> list[DeliveredFile]:
    """Files for a department under `<landing>/<department>/<period>/`.

    A file no spec recognises is an error, not something to skip quietly:
    it is probably an extract under a new name.
    """
    root = landing_dir / department.code
    if not root.is_dir():
        raise ExtractError(
            f"no folder for department {department.code!r}",
            file=str(root),
            action=f"Put the extracts under {root}/<period>/ (period as 2023 or 2023-03)",
        )
    wanted = set(periods) if periods is not None else None
    found: list[DeliveredFile] = []
    # Hidden folders are a generator's or a sync tool's scratch space, not deliveries.
    for period_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        period = period_dir.name
        if not PERIOD.match(period):
            raise ExtractError(
                f"folder name {period!r} is not a period",
                file=str(period_dir),
                action="Name period folders 2023 (a year) or 2023-03 (a month)",
            )
        if wanted is not None and period not in wanted:
            continue
        for path in sorted(p for p in period_dir.iterdir() if p.is_file()):
            if path.name.startswith(".") or path.name == DELIVERY_MARKER or path.name.lower() in ("readme.md", "readme.txt"):
                continue
            junk = _junk(path.name)
            if junk:
                log.warning("skipped %s: %s, not an extract", path, junk)
                continue
            if path.is_symlink() and not path.resolve().is_relative_to(landing_dir.resolve()):
                raise ExtractError(
                    f"the file is a link to {path.resolve()}, outside the landing folder",
                    file=str(path),
                    action="Copy the file itself into the landing folder; links out of it are not followed",
                )
            named = _named_period(path.name)
            if named and not named.startswith(period) and not period.startswith(named):
                raise ExtractError(
                    f"the file name says {named} but the file is in the folder of {period}",
                    file=str(path),
                    action=f"Move it to {department.code}/{named}/ (or rename it, if the name is wrong) and deliver again",
                )
            spec = department.spec_for(path.name)
            if spec is None:
                patterns = "; ".join(f"{s.name}: {', '.join(s.file_patterns)}" for s in department.extracts)
                raise ExtractError(
                    "no extract spec recognises this file name",
                    file=str(path),
                    action=f"Rename it to match one of ({patterns}) or add a spec for it",
                )
            found.append(DeliveredFile(path, department.code, period, spec))
    return found


# Files that office software and desktops leave beside the extracts.
_JUNK = (
    (re.compile(r"^~\$"), "an Office lock file (the workbook was open when copied)"),
    (re.compile(r"^\.~lock\..*#$"), "a LibreOffice lock file"),
    (re.compile(r"^(desktop\.ini|thumbs\.db|\.ds_store)$", re.IGNORECASE), "a desktop's folder settings"),
    (re.compile(r"\.(tmp|bak|swp)$|~$", re.IGNORECASE), "an editor's temporary or backup file"),
)
_NAMED_PERIOD = re.compile(r"(?<!\d)(20\d\d)[-_.年]?(0[1-9]|1[0-2])(?:月)?(?!\d)")


def _junk(name: str) -> str | None:
    """Why a file is office or desktop litter (a lock file, Thumbs.db), or None."""
    return next((why for pattern, why in _JUNK if pattern.search(name)), None)


def _named_period(name: str) -> str | None:
    """The month a file name names (培训学员花名册_2023-04.csv -> 2023-04), or None."""
    found = _NAMED_PERIOD.search(name)
    return f"{found.group(1)}-{found.group(2)}" if found else None


def file_sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


@dataclass
class _FileLoad:
    delivered: DeliveredFile
    sha256: str
    size: int
    # The township the file is for, by its name (or the register's only
    # one); None for a county file, whose 乡镇 column gives each row's.
    township_code: str | None = None
    file_id: int | None = None
    encoding: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rejects: list[dict] = field(default_factory=list)
    # 64-bit hashes (polars', stable within this process) of each loaded
    # row's key: 8 bytes a row, enough to tell whether the file repeats a key
    # without a costly query when it does not.
    key_hashes: list[np.ndarray] = field(default_factory=list)

    @property
    def rows_rejected(self) -> int:
        return self.rows_read - self.rows_loaded


class PseudonymKeyMismatch(GovkpiError):
    """The pseudonymisation key is not the one the warehouse's pseudonyms were made with."""


def refuse_another_pseudonym_key(conn: psycopg.Connection, pseudonymiser: Pseudonymiser) -> None:
    """`PseudonymKeyMismatch` if the warehouse records another key; reads only (`govkpi run` asks before starting)."""
    exists = conn.execute("select to_regclass('audit.pseudonym_key')").fetchone()
    if not exists or exists[0] is None:
        return
    row = conn.execute("select fingerprint, recorded_at from audit.pseudonym_key").fetchone()
    if row is not None and row[0] != pseudonymiser.fingerprint:
        raise _mismatch(row[0], row[1], pseudonymiser)


def _mismatch(fingerprint: str, recorded_at: dt.datetime, pseudonymiser: Pseudonymiser) -> PseudonymKeyMismatch:
    return PseudonymKeyMismatch(
        "GOVKPI_PSEUDONYM_KEY is not the key this warehouse's pseudonyms were made with "
        f"(fingerprint {fingerprint[:12]}..., recorded {recorded_at:%Y-%m-%d %H:%M %Z}; this key's is "
        f"{pseudonymiser.fingerprint[:12]}...). Loading with it would give every person a new pseudonym, "
        "and people would be counted twice. Nothing was loaded. Set the key the warehouse was built with "
        "(for `govkpi run` without a key: the demo key in the state folder it used), or load into a new warehouse."
    )


def check_pseudonym_key(conn: psycopg.Connection, pseudonymiser: Pseudonymiser) -> None:
    """Refuse a key other than the one this warehouse was built with; record it on the first load.

    Another key would give every person a new pseudonym: counts of distinct
    people would double across the change and nothing would say so. The
    warehouse keeps the key's fingerprint (`Pseudonymiser.fingerprint`, an
    HMAC of a fixed text: it identifies the key without revealing it). A
    warehouse loaded before fingerprints were kept records the key of its
    next load.
    """
    with conn.transaction():
        conn.execute("lock table audit.pseudonym_key in exclusive mode")
        row = conn.execute("select fingerprint, recorded_at from audit.pseudonym_key").fetchone()
        if row is None:
            loaded = conn.execute("select exists (select 1 from audit.load_manifest where status = 'loaded')").fetchone()
            if loaded and loaded[0]:
                log.warning(
                    "this warehouse holds loaded files but no record of its pseudonymisation key: recording the "
                    "fingerprint of the key now in use; make sure it is the one those files were loaded with"
                )
            conn.execute("insert into audit.pseudonym_key (fingerprint) values (%s)", (pseudonymiser.fingerprint,))
            return
    fingerprint, recorded_at = row
    if fingerprint != pseudonymiser.fingerprint:
        raise _mismatch(fingerprint, recorded_at, pseudonymiser)


def load_batch(
    conn: psycopg.Connection,
    department: Department,
    files: Sequence[DeliveredFile],
    pseudonymiser: Pseudonymiser,
    *,
    areas: AreaRegister | None,
    airflow_dag_id: str | None = None,
    airflow_run_id: str | None = None,
) -> BatchOutcome:
    """Load the new files among `files` as one batch (see the module docstring)."""
    ensure_schema(conn, department.extracts)
    check_pseudonym_key(conn, pseudonymiser)
    outcome = BatchOutcome(department.code, None, "nothing_new")
    pending: list[_FileLoad] = []
    for delivered in files:
        sha, size = file_sha256(delivered.path)
        previous = conn.execute(
            "select file_id, file_name, status, loaded_at, message from audit.load_manifest "
            "where extract_name = %s and sha256 = %s",
            (delivered.spec.name, sha),
        ).fetchone()
        if previous is not None:
            file_id, name, status, loaded_at, message = previous
            if status == "loaded":
                note = f"identical to file {file_id} ({name}) loaded {loaded_at:%Y-%m-%d %H:%M}; not loaded again"
                outcome.files.append(FileOutcome(delivered.path.name, delivered.spec.name, delivered.period, "already_loaded", file_id, message=note))
                log.info("%s: %s", delivered.path.name, note)
            else:
                note = f"identical to file {file_id} ({name}) refused {loaded_at:%Y-%m-%d %H:%M} ({message}); send a corrected file"
                outcome.files.append(FileOutcome(delivered.path.name, delivered.spec.name, delivered.period, "previously_refused", file_id, message=note))
                log.warning("%s: %s", delivered.path.name, note)
            continue
        twin = next((p for p in pending if p.delivered.spec.name == delivered.spec.name and p.sha256 == sha), None)
        if twin is not None:
            note = f"identical to {twin.delivered.path.name} of this delivery; loaded once"
            outcome.files.append(FileOutcome(delivered.path.name, delivered.spec.name, delivered.period, "already_loaded", None, message=note))
            log.info("%s: %s", delivered.path.name, note)
            continue
        pending.append(_FileLoad(delivered, sha, size, areas.file_township(delivered.path.name) if areas else None))
    if not pending:
        return outcome

    periods = sorted({p.delivered.period for p in pending})
    batch_id: int | None = None
    try:
        _refuse_two_files_for_one_slot(pending)
        with conn.transaction():
            batch_id = _insert_batch(conn, department.code, periods, "running", airflow_dag_id, airflow_run_id)
            for load in pending:
                _load_file(conn, batch_id, load, pseudonymiser, areas)
            conn.execute(
                "update audit.load_batch set status = 'loaded', finished_at = now() where batch_id = %s",
                (batch_id,),
            )
    except ExtractError as error:
        refused_id = _record_refusal(conn, department.code, periods, pending, error, airflow_dag_id, airflow_run_id)
        raise BatchRefused(refused_id, error) from None

    outcome.batch_id = batch_id
    outcome.status = "loaded"
    _analyze_loaded(conn, pending)
    for load in pending:
        outcome.files.append(
            FileOutcome(
                load.delivered.path.name,
                load.delivered.spec.name,
                load.delivered.period,
                "loaded",
                load.file_id,
                load.rows_read,
                load.rows_loaded,
                load.rows_rejected,
            )
        )
    outcome.rejects = _first_rejects(conn, batch_id)
    for line in outcome.rejects:
        log.warning("quarantined: %s", line)
    return outcome


def _analyze_loaded(conn: psycopg.Connection, pending: list[_FileLoad]) -> None:
    """Planner statistics for the tables a batch has just written (docs/adr/0023).

    The gate's manifest-vs-raw checks and the staging views read these
    tables minutes later, before autovacuum would have analysed them (or
    never, where it is off): without statistics a county's reconciliation
    took 26 s instead of 1 s. ANALYZE samples a fixed number of rows, so it
    costs about the same for a month's delivery as for the archive.
    """
    tables = sorted({load.delivered.spec.table for load in pending})
    for table in tables:
        conn.execute(sql.SQL("analyze {}.{}").format(sql.Identifier(RAW_SCHEMA), sql.Identifier(table)))
    conn.execute("analyze audit.load_manifest")
    conn.execute("analyze audit.quarantine")


def _refuse_two_files_for_one_slot(pending: list[_FileLoad]) -> None:
    seen: dict[tuple[str, str, str | None], Path] = {}
    for load in pending:
        # one file per extract, period and township (or one county file)
        slot = (load.delivered.spec.name, load.delivered.period, load.township_code)
        if slot in seen:
            whose = f" of township {slot[2]}" if slot[2] else " for the whole county"
            raise ExtractError(
                f"two new files{whose} for extract {slot[0]} and period {slot[1]} in one delivery "
                f"({seen[slot].name} and {load.delivered.path.name})",
                file=str(load.delivered.path),
                action="Keep only the file that is meant to count and run again",
            )
        seen[slot] = load.delivered.path


def _insert_batch(
    conn: psycopg.Connection, department: str, periods: list[str], status: str, dag_id: str | None, run_id: str | None, message: str | None = None
) -> int:
    row = returned(conn.execute(
        "insert into audit.load_batch (department, period, status, airflow_dag_id, airflow_run_id, message, finished_at) "
        "values (%s, %s, %s, %s, %s, %s, case when %s = 'running' then null else now() end) returning batch_id",
        (department, ",".join(periods), status, dag_id, run_id, message, status),
    ).fetchone(), "insert into audit.load_batch")
    return int(row[0])


def _insert_manifest(conn: psycopg.Connection, batch_id: int, load: _FileLoad, status: str, message: str | None = None) -> int:
    d = load.delivered
    received = dt.datetime.fromtimestamp(d.path.stat().st_mtime, tz=dt.timezone.utc)
    row = conn.execute(
        "insert into audit.load_manifest (batch_id, department, extract_name, period, file_name, file_path, sha256, "
        "size_bytes, encoding, received_at, rows_read, rows_loaded, rows_rejected, status, message, delivery, township_code) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning file_id",
        (
            batch_id,
            d.department,
            d.spec.name,
            d.period,
            d.path.name,
            str(d.path),
            load.sha256,
            load.size,
            load.encoding,
            received,
            load.rows_read,
            load.rows_loaded,
            load.rows_rejected,
            status,
            message,
            d.spec.delivery,
            load.township_code,
        ),
    ).fetchone()
    row = returned(row, "insert into audit.load_manifest")
    return int(row[0])


def _load_file(
    conn: psycopg.Connection, batch_id: int, load: _FileLoad, pseudonymiser: Pseudonymiser, areas: AreaRegister | None
) -> None:
    spec = load.delivered.spec
    path = load.delivered.path
    # A file of several chunks is worked in a pipeline: chunk k's IDs are
    # pseudonymised in a helper process while the main process reads and
    # checks chunk k+1 and the server takes in chunk k-1. A small file is
    # done in place.
    with pseudonymiser.worker() if load.size > 2 * CSV_BLOCK_BYTES else contextlib.nullcontext() as worker:
        _copy_file(conn, batch_id, load, worker or pseudonymiser, areas)
    _write_rejects(conn, batch_id, load)
    duplicates = _quarantine_duplicate_keys(conn, batch_id, load) if _may_repeat_keys(load) else 0
    load.rows_loaded -= duplicates
    _check_rejected_share(load)
    conn.execute(
        "update audit.load_manifest set encoding = %s, rows_read = %s, rows_loaded = %s, rows_rejected = %s "
        "where file_id = %s",
        (load.encoding, load.rows_read, load.rows_loaded, load.rows_rejected, load.file_id),
    )
    conn.execute(
        "update audit.load_manifest set superseded_by_file_id = %s "
        "where extract_name = %s and period = %s and township_code is not distinct from %s and file_id <> %s "
        "and status = 'loaded' and superseded_by_file_id is null",
        (load.file_id, spec.name, load.delivered.period, load.township_code, load.file_id),
    )
    log.info(
        "%s: %s rows read, %s loaded into raw.%s, %s rejected",
        path.name,
        load.rows_read,
        load.rows_loaded,
        spec.table,
        load.rows_rejected,
    )


def _copy_file(
    conn: psycopg.Connection, batch_id: int, load: _FileLoad, hasher: Pseudonymiser | Worker, areas: AreaRegister | None
) -> None:
    """Read, check and COPY the file's rows; rejected cells are kept on `load`."""
    spec = load.delivered.spec
    path = load.delivered.path
    opened = open_extract(spec, path)
    load.encoding = opened.encoding
    township = next((c for c in spec.columns if c.type is ColumnType.TOWNSHIP), None)
    if areas is not None and load.township_code is None and (township is None or township.name not in opened.header.headers):
        raise ExtractError(
            "the file has no township column (乡镇) and its name names no township of the area register, "
            "so its rows cannot be given a township",
            file=str(path),
            action=(
                f"Add a 乡镇 column, or put the township's name or division code in the file name "
                f"(townships: {areas.known_townships()}; register {areas.source})"
            ),
        )
    load.file_id = _insert_manifest(conn, batch_id, load, "loaded")
    columns = [name for name, _ in spec.warehouse_columns()]
    free_text = {col.name for col in spec.columns if col.type in (ColumnType.TEXT, ColumnType.VILLAGE, ColumnType.TOWNSHIP)}
    copy_sql = sql.SQL("copy {}.{} ({}) from stdin").format(
        sql.Identifier(RAW_SCHEMA),
        sql.Identifier(spec.table),
        sql.SQL(", ").join(sql.Identifier(c) for c in [*columns, "_batch_id", "_file_id", "_row_number"]),
    )
    with conn.cursor() as cur, cur.copy(copy_sql) as copy, _BackgroundSender(copy) as send:

        def finish(parsed: ParsedChunk) -> None:
            valid = parsed.valid  # waits for its pseudonyms
            load.rows_loaded += valid.height
            if valid.height:
                send(copy_text(valid, columns, (batch_id, load.file_id), free_text))
                load.key_hashes.append(valid.select(spec.key).hash_rows().to_numpy())

        previous: ParsedChunk | None = None
        for chunk in opened.chunks:
            parsed = parse_chunk(
                spec,
                chunk.rows,
                opened.header.headers,
                hasher,
                areas=areas,
                file_township=load.township_code,
                period=load.delivered.period,
                may_hold_undecodable=chunk.may_hold_undecodable,
            )
            load.rows_read += chunk.rows.height
            load.rejects.extend(parsed.rejects)
            if previous is not None:
                finish(previous)
            previous = parsed
        if previous is not None:
            finish(previous)



class _BackgroundSender:
    """Sends COPY data from a thread, so the server takes in one chunk while the next is parsed.

    Without it the two take turns: psycopg's `write` waits on the socket
    while the server parses what it was sent, and the server idles while
    Python parses the next chunk (on a million-row roster, a quarter of the
    load's time went to that wait). The queue holds at most two chunks, so
    memory stays bounded when the server is the slower side. Only this
    thread uses the connection until the block ends.
    """

    def __init__(self, copy: psycopg.Copy) -> None:
        self._copy = copy
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="govkpi-copy-sender", daemon=True)

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._copy.write(data)
                except BaseException as exc:  # handed to the loading thread
                    self._error = exc

    def __call__(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def __enter__(self) -> _BackgroundSender:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc_info[0] is None:
            raise self._error


_COPY_SPECIAL = r"[\\\t\n\r]"


def _escaped(column: pl.Expr) -> pl.Expr:
    """A text column as COPY text: backslash, tab, newline and carriage return escaped."""
    return (
        column.str.replace_all("\\", "\\\\", literal=True)
        .str.replace_all("\t", "\\t", literal=True)
        .str.replace_all("\n", "\\n", literal=True)
        .str.replace_all("\r", "\\r", literal=True)
    )


def copy_text(
    valid: pl.DataFrame, columns: list[str], constants: tuple[int, ...], free_text: Collection[str] | None = None
) -> bytes:
    """Rows for `COPY ... FROM STDIN` (text format), written by polars as one block.

    The columns, then the batch and file ids, then the row number; \\N for
    a missing value. Only text columns that hold a special character are
    escaped (one search per column: escaping is rarely needed); `free_text`
    names the columns that can hold one at all (the delivered text, not the
    dates, flags and pseudonyms written by the parser). polars writes
    the tab-separated text in compiled code, many times faster than joining
    the cells in Python.
    """
    texts = [name for name in columns if valid.schema[name] == pl.String and (free_text is None or name in free_text)]
    found = valid.select(pl.col(name).str.contains(_COPY_SPECIAL).any() for name in texts).row(0) if texts else ()
    special = {name for name, hit in zip(texts, found) if hit}
    frame = valid.select(
        *(_escaped(pl.col(name)) if name in special else pl.col(name) for name in columns),
        *(pl.lit(value).alias(f"_constant_{i}") for i, value in enumerate(constants)),
        pl.col(ROW_NUMBER),
    )
    out = io.BytesIO()
    frame.write_csv(out, include_header=False, separator="\t", quote_style="never", null_value="\\N")
    return out.getvalue()


def _write_rejects(conn: psycopg.Connection, batch_id: int, load: _FileLoad) -> None:
    if not load.rejects:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "insert into audit.quarantine (batch_id, file_id, file_name, row_number, column_name, reason, raw_record) "
            "values (%s, %s, %s, %s, %s, %s, %s)",
            [
                (batch_id, load.file_id, load.delivered.path.name, r["row_number"], r["column"], r["reason"], json.dumps(r["raw_record"], ensure_ascii=False))
                for r in load.rejects
            ],
        )


def _may_repeat_keys(load: _FileLoad) -> bool:
    """Whether two loaded rows share a key hash (a repeat, or a rare hash collision the SQL settles)."""
    if not load.key_hashes:
        return False
    hashes = np.concatenate(load.key_hashes)
    load.key_hashes.clear()
    hashes.sort()
    return bool((hashes[1:] == hashes[:-1]).any())


def _quarantine_duplicate_keys(conn: psycopg.Connection, batch_id: int, load: _FileLoad) -> int:
    """Move every repeat of a key within the file to quarantine, keeping its first row."""
    spec = load.delivered.spec
    table = sql.SQL("{}.{}").format(sql.Identifier(RAW_SCHEMA), sql.Identifier(spec.table))
    key = sql.SQL(", ").join(sql.Identifier(k) for k in spec.key)
    # a township's own file has one township: the key it shows is the rest
    shown = [k for k in spec.key if not (k == TOWNSHIP.name and load.township_code)]
    headers = ", ".join(spec.column(k).aliases[0] for k in shown)
    query = sql.SQL(
        """
        with ranked as (
            select ctid as row_ctid, _row_number,
                   first_value(_row_number) over w as first_row,
                   row_number() over w as occurrence
            from {table}
            where _file_id = %(file_id)s
            window w as (partition by {key} order by _row_number)
        ),
        removed as (
            delete from {table} t
            using ranked
            where t.ctid = ranked.row_ctid and ranked.occurrence > 1
            returning t.*, ranked.first_row
        )
        insert into audit.quarantine (batch_id, file_id, file_name, row_number, column_name, reason, raw_record)
        select %(batch_id)s, %(file_id)s, %(file_name)s, removed._row_number, %(headers)s,
               'same key (' || %(headers)s || ') as row ' || removed.first_row || '; the first row was kept',
               to_jsonb(removed) - '_batch_id' - '_file_id' - 'first_row'
        from removed
        """
    ).format(table=table, key=key)
    with conn.cursor() as cur:
        cur.execute(query, {"file_id": load.file_id, "batch_id": batch_id, "file_name": load.delivered.path.name, "headers": headers})
        return cur.rowcount


def _check_rejected_share(load: _FileLoad) -> None:
    spec = load.delivered.spec
    if load.rows_read == 0:
        raise ExtractError(
            "the file has a header but no data rows",
            file=load.delivered.path.name,
            action="Check the export; send the file again with its rows",
        )
    share = load.rows_rejected / load.rows_read
    if share > spec.max_rejected_fraction:
        raise ExtractError(
            f"{load.rows_rejected} of {load.rows_read} rows failed validation "
            f"(more than {spec.max_rejected_fraction:.0%}); this looks like a broken export, not a few typos",
            file=load.delivered.path.name,
            action="See audit.quarantine for each row and column; fix the export and send it again",
        )


def _record_refusal(
    conn: psycopg.Connection,
    department: str,
    periods: list[str],
    pending: list[_FileLoad],
    error: ExtractError,
    dag_id: str | None,
    run_id: str | None,
) -> int:
    """Record a refused batch, the refused file and why, in a transaction of its own."""
    culprit = next((p for p in pending if p.delivered.path.name == Path(error.file).name), pending[0])
    with conn.transaction():
        batch_id = _insert_batch(conn, department, periods, "refused", dag_id, run_id, str(error))
        culprit.rows_loaded = 0
        file_id = _insert_manifest(conn, batch_id, culprit, "refused", str(error))
        culprit.file_id = file_id
        if culprit.rejects:
            _write_rejects(conn, batch_id, culprit)
        else:
            conn.execute(
                "insert into audit.quarantine (batch_id, file_id, file_name, row_number, column_name, reason) "
                "values (%s, %s, %s, %s, %s, %s)",
                (batch_id, file_id, culprit.delivered.path.name, error.row, error.column, f"{error.problem}. {error.action}"),
            )
    log.error("batch refused, nothing loaded: %s", error)
    return batch_id


def _first_rejects(conn: psycopg.Connection, batch_id: int) -> list[str]:
    rows = conn.execute(
        "select file_name, row_number, column_name, reason from audit.quarantine where batch_id = %s "
        "order by file_name, row_number, column_name limit %s",
        (batch_id, REPORTED_REJECTS),
    ).fetchall()
    return [f"file {f}, row {r}, column {c!r}: {reason}" for f, r, c, reason in rows]
