"""Run every expectation suite against a dbt audit build and record the outcome.

This is the "audit" step of write-audit-publish: dbt builds the candidate
marts into an audit schema, `run_gate` validates them (and the raw layer they
were built from) and stores one row per expectation in
`audit.validation_result`, and only a passing run may be published. A
failed check is reported as a `CheckFailure` whose message says what was
expected and what was observed, so whoever reads the Airflow log or the
command-line summary knows which check broke without opening GX output.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import pathlib
import re
import time
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

# Great Expectations logs at INFO for every function it registers while
# importing and for every expectation it configures: thousands of lines per
# validation run, which drowned Airflow task logs and cost seconds to format
# (docs/adr/0014). Its warnings and errors still show.
logging.getLogger("great_expectations").setLevel(logging.WARNING)

import great_expectations as gx  # noqa: E402
import psycopg  # noqa: E402
import sqlalchemy  # noqa: E402
from great_expectations.core.expectation_validation_result import (  # noqa: E402
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.datasource.fluent.sql_datasource import SQLDatasource  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402

from expectations import DEFAULT_CANDIDATE_SCHEMA  # noqa: E402
from expectations.errors import GateError  # noqa: E402
from expectations.suites import RAW_SUITE_MODULES, SUITE_MODULES  # noqa: E402
from expectations.suites._checks import Relation, checked_identifier  # noqa: E402
from govkpi import schemas  # noqa: E402
from govkpi.migrations import migrate  # noqa: E402
from ingestion.ddl import returned  # noqa: E402

logger = logging.getLogger(__name__)
# Each failed check is logged here at WARNING, apart from progress, so a
# caller that reports failures itself (the CLI) can silence just these.
FAILURE_LOGGER = f"{__name__}.failures"
_failure_logger = logging.getLogger(FAILURE_LOGGER)

# COMPLETE is the only result format in which GX returns the offending rows
# of an UnexpectedRowsExpectation; GX itself caps them at 200 per check.
_RESULT_FORMAT = "COMPLETE"
# How many offending rows or values a failure message quotes; the stored
# details keep up to _MAX_STORED_ITEMS of them.
_ITEMS_IN_MESSAGE = 5
_MAX_STORED_ITEMS = 200
_OBSERVED_KEYS = (
    "observed_value",
    "element_count",
    "missing_count",
    "missing_percent",
    "unexpected_count",
    "unexpected_percent",
)
_LIBPQ_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class CheckFailure:
    """One expectation that failed (or could not run), in words a data steward can act on."""

    suite: str
    check: str
    relation: str
    message: str  # what was expected and what was observed

    def __str__(self) -> str:
        return f"[{self.suite}] {self.check} ({self.relation}): {self.message}"


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate run, as stored under `validation_run_id` in `audit.validation_run`."""

    validation_run_id: int
    success: bool
    failures: list[CheckFailure]
    checks_run: int


@dataclass(frozen=True)
class _Outcome:
    suite: str
    relation: str
    check: str
    expectation_type: str
    success: bool
    observed: dict[str, Any]
    details: dict[str, Any]
    message: str


def to_sqlalchemy_url(warehouse_url: str) -> str:
    """Turn a libpq URL (`postgresql://...`, as users write it) into a SQLAlchemy psycopg 3 URL.

    Everything after the scheme, query parameters such as `?host=/socket/dir`
    included, is kept as it is.
    """
    scheme, separator, rest = warehouse_url.partition("://")
    if not separator or scheme not in (*_LIBPQ_SCHEMES, "postgresql+psycopg"):
        raise GateError(
            "the warehouse URL must be a PostgreSQL URL such as "
            "postgresql://user@host:5432/govkpi or postgresql://user@/govkpi?host=/socket/dir; "
            f"got one starting with {scheme + separator if separator else 'no scheme'!r}"
        )
    return f"postgresql+psycopg://{rest}"


def _libpq_url(warehouse_url: str) -> str:
    return "postgresql://" + warehouse_url.partition("://")[2]


def _redacted(sqlalchemy_url: str) -> str:
    """The URL with its password hidden, for logs and error messages."""
    try:
        url = sqlalchemy.engine.make_url(sqlalchemy_url).set(drivername="postgresql")
        return url.render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError as exc:
        raise GateError(f"the warehouse URL cannot be parsed ({exc}); check its spelling") from None


def run_gate(
    warehouse_url: str,
    *,
    candidate_schema: str = DEFAULT_CANDIDATE_SCHEMA,
    run_label: str = "",
    results_dir: pathlib.Path | None = None,
    raw_only: bool = False,
    dbt_results: list[dict[str, Any]] | None = None,
) -> GateResult:
    """Validate the audit build in `candidate_schema` and store the outcome in the warehouse.

    Returns the run's id, whether every check passed, and one `CheckFailure`
    per failed check. Raises `GateError` when the gate cannot run at all (bad
    URL, unreachable server, audit build missing a table, unwritable
    `results_dir`); a run that ran and found failures does not raise.
    If `results_dir` is given, each suite's full GX validation result is
    written there as JSON as well, and, for a full run (not `raw_only`), the
    run's GX Data Docs (an HTML site an auditor can open) into
    `results_dir/data_docs_run_<id>/`. With `raw_only`, only the suites over the
    loader's tables run (manifest vs raw): the check made before dbt builds.
    `dbt_results` (govkpi.transform.dbt_test_outcomes of the build being validated) are
    stored in the same run, one row per dbt data test and unit test, so the
    run records every check the candidate passed.
    """
    modules = RAW_SUITE_MODULES if raw_only else SUITE_MODULES
    candidate_schema = checked_identifier(candidate_schema)
    sqlalchemy_url = to_sqlalchemy_url(warehouse_url)
    shown_url = _redacted(sqlalchemy_url)
    if results_dir is not None:
        try:
            results_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GateError(f"cannot create the results directory {results_dir}: {exc.strerror}") from None

    started = time.perf_counter()
    logger.info("validating the audit build in schema %s of %s", candidate_schema, shown_url)
    with _connect(_libpq_url(warehouse_url), shown_url) as conn:
        _require_relations(conn, candidate_schema, modules)
        _ensure_results_tables(conn)
        run_id = _start_run(
            conn, run_label=run_label, candidate_schema=candidate_schema, scope="raw" if raw_only else "full"
        )
        try:
            partial_scope = False if raw_only else record_kpi_scope(conn, run_id, candidate_schema)
            outcomes = _validate_all(
                sqlalchemy_url,
                candidate_schema,
                modules,
                run_id=run_id,
                results_dir=results_dir,
                data_docs=not raw_only,
                scope_run_id=run_id if partial_scope else None,
            )
        except BaseException:
            _finish_run(conn, run_id, success=False)
            raise
        outcomes += [_dbt_outcome(r) for r in dbt_results or []]
        success = all(outcome.success for outcome in outcomes)
        _store_outcomes(conn, run_id, outcomes)
        _finish_run(conn, run_id, success=success)

    failures = [
        CheckFailure(suite=o.suite, check=o.check, relation=o.relation, message=o.message)
        for o in outcomes
        if not o.success
    ]
    for failure in failures:
        _failure_logger.warning("check failed: %s", failure)
    logger.info(
        "validation run %d %s: %d of %d checks passed in %.1fs",
        run_id,
        "passed" if success else "FAILED",
        len(outcomes) - len(failures),
        len(outcomes),
        time.perf_counter() - started,
    )
    return GateResult(validation_run_id=run_id, success=success, failures=failures, checks_run=len(outcomes))


DBT_SUITE = "dbt"


def _dbt_outcome(result: dict[str, Any]) -> _Outcome:
    status = str(result.get("status"))
    return _Outcome(
        suite=DBT_SUITE,
        relation=result.get("relation") or "",
        check=result["name"],
        expectation_type=f"dbt {result['test_type']}",
        success=status in ("pass", "warn"),
        observed={"status": status, "failures": result.get("failures")},
        details={"unique_id": result["unique_id"]},
        message=f"dbt reported {status} ({result.get('failures')} failing rows)",
    )


def _connect(libpq_url: str, shown_url: str) -> psycopg.Connection:
    try:
        return psycopg.connect(libpq_url, autocommit=True)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GateError(
            f"cannot connect to the warehouse at {shown_url}: {reason}. "
            "Check the URL and that the server is running."
        ) from None
    except psycopg.ProgrammingError as exc:
        raise GateError(f"the warehouse URL {shown_url} is not a valid connection string: {exc}") from None


def _all_relations(candidate_schema: str, modules: tuple[ModuleType, ...]) -> list[str]:
    seen: dict[str, None] = {}
    for module in modules:
        relations: tuple[Relation, ...] = (module.RELATION, *module.READS)
        for relation in relations:
            seen[relation.qualified(candidate_schema)] = None
    return list(seen)


def _require_relations(conn: psycopg.Connection, candidate_schema: str, modules: tuple[ModuleType, ...]) -> None:
    """Fail early, naming every missing table, rather than with one failed check per table."""
    missing = [
        name
        for name in _all_relations(candidate_schema, modules)
        if conn.execute("select to_regclass(%s)", (name,)).fetchone()[0] is None  # type: ignore[index]
    ]
    if missing:
        raise GateError(
            f"the warehouse lacks {', '.join(missing)}: the gate validates the dbt audit build in schema "
            f"{candidate_schema!r} and the loader's raw and audit tables. Load the extracts and build "
            "the audit models first, or pass the schema the audit build was written to."
        )


def _ensure_results_tables(conn: psycopg.Connection) -> None:
    """audit.validation_run and audit.validation_result, as govkpi.migrations defines them."""
    migrate(conn)


def suite_code_sha256() -> str:
    """SHA-256 of the expectation suites' code: every .py file of the `expectations` package, by path."""
    root = pathlib.Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# Advisory locks (class, validation_run_id): a gate holds its run's for as long as it runs,
# so a run left open whose lock nobody holds was abandoned (its process was killed).
RUN_LOCK_CLASS = 0x67617465  # 'gate'


def _start_run(conn: psycopg.Connection, *, run_label: str, candidate_schema: str, scope: str) -> int:
    with conn.transaction():
        row = conn.execute(
            """
            insert into audit.validation_run (run_label, candidate_schema, gx_version, scope, suite_sha256)
            values (%s, %s, %s, %s, %s)
            returning validation_run_id
            """,
            (run_label, candidate_schema, gx.__version__, scope, suite_code_sha256()),
        ).fetchone()
        run_id = int(returned(row, "insert into audit.validation_run")[0])
        # held until this connection closes: committed rows of open runs are always locked
        conn.execute("select pg_advisory_lock(%s, %s)", (RUN_LOCK_CLASS, run_id))
    _close_abandoned_runs(conn, run_id)
    return run_id


def _close_abandoned_runs(conn: psycopg.Connection, current: int) -> None:
    """Mark failed the open validation runs no gate holds any more (a gate killed mid-run)."""
    for (run_id,) in conn.execute(
        "select validation_run_id from audit.validation_run where finished_at is null and validation_run_id <> %s",
        (current,),
    ).fetchall():
        if not conn.execute("select pg_try_advisory_lock(%s, %s)", (RUN_LOCK_CLASS, run_id)).fetchone()[0]:
            continue  # another gate is running it
        try:
            conn.execute(
                "update audit.validation_run set finished_at = now(), success = false "
                "where validation_run_id = %s and finished_at is null",
                (run_id,),
            )
            logger.warning(
                "validation run %s was left open by a gate that ended without finishing (killed?); marked failed", run_id
            )
        finally:
            conn.execute("select pg_advisory_unlock(%s, %s)", (RUN_LOCK_CLASS, run_id))


def _finish_run(conn: psycopg.Connection, run_id: int, *, success: bool) -> None:
    conn.execute(
        "update audit.validation_run set finished_at = now(), success = %s where validation_run_id = %s",
        (success, run_id),
    )


def _store_outcomes(conn: psycopg.Connection, run_id: int, outcomes: list[_Outcome]) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            """
            insert into audit.validation_result (
                validation_run_id, suite_name, relation, check_name,
                expectation_type, success, observed, details
            )
            values (%s, %s, %s, %s, %s, %s, %s, %s)
            """,
            [
                (
                    run_id,
                    o.suite,
                    o.relation,
                    o.check,
                    o.expectation_type,
                    o.success,
                    Jsonb(o.observed),
                    Jsonb(o.details),
                )
                for o in outcomes
            ],
        )


# The KPI partitions the fct_kpi_value suite's partition checks read (docs/adr/0026).
KPI_FACT = "fct_kpi_value"
KPI_PARTITION = ("kpi_code", "period_grain", "period_start_date")
# The tables those checks read besides the KPI values: a difference in any of
# them may change a check's verdict on a partition whose values did not change.
KPI_CHECK_DIMENSIONS = ("dim_kpi", "dim_area", "dim_squad")


def record_kpi_scope(conn: psycopg.Connection, run_id: int, candidate_schema: str) -> bool:
    """Record which fct_kpi_value partitions run `run_id` checks partition by partition; True if not all.

    A partition whose rows are exactly those of the live publication was
    checked by the run that passed that publication; if that run used the
    same suites and the candidate's dimensions the checks read are also the
    published ones, checking it again cannot give another verdict. Those
    partitions are left out; every other one, and every partition when any
    condition does not hold, is in scope. Whole-table checks (coverage,
    money totals, row counts, ranges) read every row regardless.
    """
    candidate_fact = f"{candidate_schema}.{KPI_FACT}"
    scope_all = _reason_to_check_every_partition(conn, candidate_schema)
    keys = ", ".join(KPI_PARTITION)
    with conn.transaction():
        if scope_all is not None:
            conn.execute(
                f"insert into audit.validation_kpi_scope (validation_run_id, {keys}) "
                f"select distinct %s::bigint, {keys} from {candidate_fact}",
                (run_id,),
            )
            reason, against = f"every partition: {scope_all}", None
        else:
            publication_id = scope_publication(conn)
            # Grouping about a row in 250 of the table: room to hash, not sort on disk.
            conn.execute("set local work_mem = '64MB'")
            conn.execute(
                f"""
                insert into audit.validation_kpi_scope (validation_run_id, {keys})
                select %s::bigint, {keys}
                from ({_partition_digests(candidate_fact)}) as c
                left join ({_partition_digests(f"{schemas.PUBLISHED}.{KPI_FACT}")}) as p using ({keys})
                where (c.row_count, c.row_hashes) is distinct from (p.row_count, p.row_hashes)
                """,
                (run_id,),
            )
            reason, against = f"the partitions whose rows differ from publication {publication_id}", publication_id
        conn.execute(
            "update audit.validation_run set kpi_scope = %s, kpi_scope_publication_id = %s where validation_run_id = %s",
            (reason, against, run_id),
        )
    # The partition checks join it: without statistics on the rows just
    # written the planner takes it for a handful of rows and nests loops
    # over the KPI table (21 s instead of 0.2 s at 10 times the sample).
    conn.execute("analyze audit.validation_kpi_scope")
    count = conn.execute(
        "select count(*) from audit.validation_kpi_scope where validation_run_id = %s", (run_id,)
    ).fetchone()
    logger.info("validation run %d checks %s KPI partitions one by one: %s", run_id, count[0] if count else 0, reason)
    return scope_all is None


def scope_publication(conn: psycopg.Connection) -> int | None:
    """The live publication (the newest: each one replaces `marts` whole)."""
    log_table = conn.execute("select to_regclass('audit.publication')").fetchone()
    if log_table is None or log_table[0] is None:
        return None
    row = conn.execute("select max(publication_id) from audit.publication").fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _reason_to_check_every_partition(conn: psycopg.Connection, candidate_schema: str) -> str | None:
    """Why every partition must be checked, or None when only the changed ones need be."""
    publication_id = scope_publication(conn)
    if publication_id is None:
        return "nothing published yet"
    row = conn.execute(
        "select r.suite_sha256 from audit.publication p "
        "join audit.validation_run r on r.validation_run_id = p.validation_run_id where p.publication_id = %s",
        (publication_id,),
    ).fetchone()
    if row is None or row[0] != suite_code_sha256():
        return f"publication {publication_id} was validated by other suites' code"
    for table in (KPI_FACT, *KPI_CHECK_DIMENSIONS):
        published = conn.execute("select to_regclass(%s)", (f"{schemas.PUBLISHED}.{table}",)).fetchone()
        if published is None or published[0] is None:
            return f"publication {publication_id} has no {table}"
        if table == KPI_FACT:
            continue
        digests = [
            conn.execute(f"select {_ROWS_DIGEST} from {schema}.{table} as t").fetchone()
            for schema in (candidate_schema, schemas.PUBLISHED)
        ]
        if digests[0] != digests[1]:
            return f"{table} differs from publication {publication_id}'s"
    return None


# An order-independent digest of a set of rows: their count and the sum of
# a 64-bit hash of each row's text form (numeric, no overflow). Change
# detection, not a seal: `govkpi audit verify` checks publications against
# the md5s recorded with them.
_ROWS_DIGEST = "count(*) as row_count, sum(hashtextextended(t::text, 0)) as row_hashes"


def _partition_digests(relation: str) -> str:
    keys = ", ".join(KPI_PARTITION)
    return f"select {keys}, {_ROWS_DIGEST} from {relation} as t group by {keys}"


DATA_DOCS_SITE = "govkpi"


def data_docs_dir(results_dir: pathlib.Path, run_id: int) -> pathlib.Path:
    """Where a validation run's GX Data Docs are built (index.html at its root)."""
    return results_dir / f"data_docs_run_{run_id}"


def _validate_all(
    sqlalchemy_url: str,
    candidate_schema: str,
    modules: tuple[ModuleType, ...],
    *,
    run_id: int,
    results_dir: pathlib.Path | None,
    data_docs: bool = True,
    scope_run_id: int | None = None,
) -> list[_Outcome]:
    """One ephemeral GX context and data source; each suite validated once against its table."""
    context = gx.get_context(mode="ephemeral")
    # GX draws tqdm bars on stderr for every suite; they garble Airflow task logs.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    docs_dir = data_docs_dir(results_dir, run_id) if results_dir is not None and data_docs else None
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name=DATA_DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            },
        )
    with warnings.catch_warnings():
        # GX suggests its Postgres data source for postgresql URLs, but that one
        # rejects URLs without a host, which the embedded server's socket URLs are.
        warnings.filterwarnings("ignore", message="You are using a generic SQLDatasource")
        datasource = context.data_sources.add_sql(name="warehouse", connection_string=sqlalchemy_url)
    outcomes: list[_Outcome] = []
    try:
        for module in modules:
            outcomes += _validate_suite(context, datasource, module, candidate_schema, run_id, results_dir, scope_run_id)
        if docs_dir is not None:
            # From the results this context holds: this run's, each suite once.
            try:
                context.build_data_docs(site_names=[DATA_DOCS_SITE])
            except OSError as exc:
                raise GateError(f"cannot write the Data Docs to {docs_dir}: {exc.strerror}") from None
    finally:
        # The engines would otherwise keep pooled connections open until
        # garbage collection, blocking e.g. a DROP DATABASE right after the run.
        datasource.get_execution_engine().engine.dispose()
        datasource.get_engine().dispose()
    return outcomes


def _validate_suite(
    context: Any,
    datasource: SQLDatasource,
    module: ModuleType,
    candidate_schema: str,
    run_id: int,
    results_dir: pathlib.Path | None,
    scope_run_id: int | None = None,
) -> list[_Outcome]:
    relation: Relation = module.RELATION
    relation_name = relation.qualified(candidate_schema)
    # A query asset rather than a table asset: TableAsset's schema_name is
    # deprecated since GX 1.14 in favour of a schema on the data source, and
    # the gate reads three schemas through one data source.
    asset = datasource.add_query_asset(name=relation_name, query=f"select * from {relation_name}")
    batch_definition = asset.add_batch_definition_whole_table(name=f"{relation_name} whole table")
    # A suite with partition checks reads only the partitions recorded for
    # this run, when they are not all of them (record_kpi_scope).
    scoped = scope_run_id is not None and "validation_run_id" in inspect.signature(module.build_suite).parameters
    suite = context.suites.add(
        module.build_suite(candidate_schema, validation_run_id=scope_run_id) if scoped else module.build_suite(candidate_schema)
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"validate {suite.name}", data=batch_definition, suite=suite)
    )
    started = time.perf_counter()
    result: ExpectationSuiteValidationResult = definition.run(result_format=_RESULT_FORMAT)
    passed = sum(1 for r in result.results if r.success)
    logger.info(
        "suite %s on %s: %d of %d checks passed in %.2fs",
        suite.name,
        relation_name,
        passed,
        len(result.results),
        time.perf_counter() - started,
    )
    if results_dir is not None:
        path = results_dir / f"validation_run_{run_id}_{suite.name}.json"
        try:
            path.write_text(json.dumps(result.to_json_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        except OSError as exc:
            raise GateError(f"cannot write the validation result to {path}: {exc.strerror}") from None

    order = {expectation.meta["check"]: i for i, expectation in enumerate(suite.expectations)}
    outcomes = [_outcome(suite.name, relation_name, r) for r in result.results]
    return sorted(outcomes, key=lambda o: order.get(o.check, len(order)))


def _outcome(suite_name: str, suite_relation: str, result: ExpectationValidationResult) -> _Outcome:
    config = result.expectation_config
    if config is None:
        raise RuntimeError(f"Great Expectations returned a result of suite {suite_name} without its expectation")
    meta = config.meta or {}
    check = meta.get("check") or config.description or config.type
    expected = meta.get("expected") or config.description or config.type
    relation = meta.get("relation") or suite_relation
    as_json = result.to_json_dict()
    body: dict[str, Any] = as_json.get("result") or {}
    exception = _exception_message(result)
    success = bool(result.success) and exception is None
    message = "" if success else _failure_message(config.type, expected, body, exception)
    return _Outcome(
        suite=suite_name,
        relation=relation,
        check=check,
        expectation_type=config.type,
        success=success,
        observed={key: body[key] for key in _OBSERVED_KEYS if key in body},
        details={
            "expected": expected,
            "message": message or None,
            "description": config.description,
            "kwargs": _truncated(as_json["expectation_config"].get("kwargs", {})),
            "result": _truncated(body),
            "exception": exception,
        },
        message=message,
    )


def _exception_message(result: ExpectationValidationResult) -> str | None:
    """The error that stopped a check from running, or None.

    GX reports an error raised while computing a metric (a failing SQL query)
    keyed by the metric's id, and one raised by the expectation itself at the
    top level; both are looked for.
    """
    info = result.exception_info or {}
    candidates = [info, *(value for value in info.values() if isinstance(value, dict))]
    for candidate in candidates:
        if candidate.get("raised_exception"):
            return str(candidate.get("exception_message") or "unknown error")
    return None


def _failure_message(expectation_type: str, expected: str, body: dict[str, Any], exception: str | None) -> str:
    if exception is not None:
        first_line = exception.strip().splitlines()[0] if exception.strip() else exception
        # "(psycopg.errors.UndefinedColumn) column x does not exist" -> the part after the class.
        first_line = re.sub(r"^\([\w.]+\)\s*", "", first_line)
        return f"expected {expected}; the check could not run: {first_line}"
    rows = (body.get("details") or {}).get("unexpected_rows")
    if rows is not None:
        count = int(body.get("observed_value") or len(rows))
        quoted = "; ".join(_row_text(row) for row in rows[:_ITEMS_IN_MESSAGE])
        more = f"; and {count - min(len(rows), _ITEMS_IN_MESSAGE)} more" if count > _ITEMS_IN_MESSAGE else ""
        return f"expected {expected}; observed {count} offending row(s): {quoted}{more}"
    if "unexpected_count" in body:
        unexpected = body["unexpected_count"]
        percent = body.get("unexpected_percent") or 0.0
        if expectation_type == "expect_column_values_to_not_be_null":
            return (
                f"expected {expected}; observed {unexpected} of {body.get('element_count')} rows "
                f"missing ({percent:.1f}%)"
            )
        examples = (body.get("partial_unexpected_list") or [])[:_ITEMS_IN_MESSAGE]
        checked = (body.get("element_count") or 0) - (body.get("missing_count") or 0)
        return (
            f"expected {expected}; observed {unexpected} of {checked} values outside it "
            f"({percent:.1f}%), e.g. {', '.join(str(value) for value in examples)}"
        )
    return f"expected {expected}; observed {body.get('observed_value')!r}"


def _row_text(row: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in row.items())


def _truncated(value: Any) -> Any:
    """Lists cut to _MAX_STORED_ITEMS, so a badly broken build does not store megabytes per check."""
    if isinstance(value, list):
        return [_truncated(item) for item in value[:_MAX_STORED_ITEMS]]
    if isinstance(value, dict):
        return {key: _truncated(item) for key, item in value.items()}
    return value
