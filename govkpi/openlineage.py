"""OpenLineage: where govkpi's events go, the dbt node events, and reading them back.

Airflow's OpenLineage provider emits an event when each task starts and
ends (and for each DAG run). govkpi adds, from the warehouse build's
`dbt build`, one START and one COMPLETE (or FAIL) event per dbt model, seed
and test, as `dbt-ol` would, each the child of the Airflow task that ran the
build (`ParentRunFacet`); model events carry the model's input and output
tables, its schema and, parsed from the compiled SQL, column-level lineage
(`ColumnLineageDatasetFacet`). See docs/adr/0011.

By default events go to files in `<GOVKPI_STATE_DIR>/openlineage/`
(OpenLineage's `file` transport, one JSON file per event), which
`read_events` reads back. Setting `AIRFLOW__OPENLINEAGE__TRANSPORT` (for
example to Marquez's HTTP endpoint, as the compose profile `lineage` does)
sends them there instead; `AIRFLOW__OPENLINEAGE__DISABLED=true` turns
OpenLineage off.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

NAMESPACE = "govkpi"
EVENTS_SUBDIR = "openlineage"
# The file transport appends a timestamp: event-20261127-081503.123456.json
FILE_PREFIX = "event"
# The variables by which a user has chosen a transport of their own.
_TRANSPORT_SETTINGS = (
    "AIRFLOW__OPENLINEAGE__TRANSPORT",
    "AIRFLOW__OPENLINEAGE__CONFIG_PATH",
    "OPENLINEAGE_URL",
    "OPENLINEAGE_CONFIG",
)
# Who wrote the dbt node events: OpenLineage's dbt processor (as dbt-ol).
DBT_PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/{version}/integration/common"


def events_dir(state_dir: Path) -> Path:
    return state_dir / EVENTS_SUBDIR


def file_transport(state_dir: Path) -> dict[str, Any]:
    """OpenLineage's file transport into `<state>/openlineage/`, a file per event (no interleaved writes)."""
    return {"type": "file", "log_file_path": str(events_dir(state_dir) / FILE_PREFIX), "append": False}


def transport_env(state_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables that set Airflow's OpenLineage provider up, given the user's environment.

    On, into the file transport, unless the environment chooses a transport
    (or turns OpenLineage off): what the user set wins.
    """
    env = {"AIRFLOW__OPENLINEAGE__NAMESPACE": environ.get("AIRFLOW__OPENLINEAGE__NAMESPACE", NAMESPACE)}
    env["AIRFLOW__OPENLINEAGE__DISABLED"] = environ.get("AIRFLOW__OPENLINEAGE__DISABLED", "false")
    # Emit from a thread of the task process, not from a process forked per
    # event: the client (and its transport) is then made once per process,
    # not once per event; a task with a hundred dbt nodes has 200 events.
    env["AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD"] = environ.get("AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD", "true")
    if not any(environ.get(name) for name in _TRANSPORT_SETTINGS):
        events_dir(state_dir).mkdir(parents=True, exist_ok=True)
        env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(file_transport(state_dir))
    return env


def emit_dbt_events(
    project_dir: str | Path, task_instance: Any, *, profile_name: str, target: str, target_path: str | Path
) -> int:
    """In the task that ran `dbt build`: emit an event pair per dbt node, children of this task's run.

    Reads the build's manifest.json and run_results.json in `target_path`
    (the profile's connection variables must be in the environment).
    Returns how many events were emitted; 0 when OpenLineage is off.
    Emitting never fails the task: lineage is reported, not load-bearing.
    """
    from airflow.providers.openlineage import conf as ol_conf

    if ol_conf.is_disabled():
        return 0
    try:
        events = dbt_events(project_dir, task_instance, profile_name=profile_name, target=target, target_path=target_path)
        from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter

        client = OpenLineageAdapter().get_or_create_openlineage_client()
        for event in events:
            client.emit(event)
    except Exception:  # noqa: BLE001 - a lineage failure must not fail a good build
        log.warning("OpenLineage: could not emit the dbt node events", exc_info=True)
        return 0
    log.info("OpenLineage: %d dbt node events emitted", len(events))
    return len(events)


def dbt_events(
    project_dir: str | Path, task_instance: Any, *, profile_name: str, target: str, target_path: str | Path
) -> list[Any]:
    """The START, COMPLETE and FAIL events of every node dbt ran, parented to `task_instance`'s run."""
    from importlib.metadata import version

    from airflow.providers.openlineage.plugins import macros
    from openlineage.common.provider.dbt.facets import ParentRunMetadata
    from openlineage.common.provider.dbt.local import DbtLocalArtifactProcessor

    namespace = macros.lineage_job_namespace()
    processor = DbtLocalArtifactProcessor(
        producer=DBT_PRODUCER.format(version=version("openlineage-integration-common")),
        job_namespace=namespace,
        project_dir=str(project_dir),
        profile_name=profile_name,
        target=target,
        target_path=str(target_path),
    )
    # A `dbt build` that failed part-way still ran what it ran.
    processor.should_raise_on_unsupported_command = False
    processor.dbt_run_metadata = ParentRunMetadata(
        run_id=macros.lineage_run_id(task_instance),
        job_name=macros.lineage_job_name(task_instance),
        job_namespace=namespace,
        root_parent_run_id=macros.lineage_root_run_id(task_instance),
        root_parent_job_name=macros.lineage_root_job_name(task_instance),
        root_parent_job_namespace=macros.lineage_root_job_namespace(task_instance),
    )
    parsed = processor.parse()
    return [*parsed.starts, *parsed.completes, *parsed.fails]


# ---- reading events back -------------------------------------------------


def event_files(directory: Path) -> list[Path]:
    """The file transport's files in `directory`, oldest first (their names carry the time)."""
    if not directory.is_dir():
        return []
    return sorted(directory.glob(f"{FILE_PREFIX}-*.json"))


def read_events(files: Iterable[Path]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Each event of the file transport's files (one JSON document per line)."""
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield path, json.loads(line)


def child_completes(events: Iterable[dict[str, Any]], parent_job: str) -> tuple[set[str], list[dict[str, Any]]]:
    """The runs of `parent_job` (its COMPLETE events), and the COMPLETE events whose ParentRunFacet names one of them.

    For the warehouse build task, the children are its dbt node events.
    """
    events = list(events)
    runs = {e["run"]["runId"] for e in events if e["job"]["name"] == parent_job and e["eventType"] == "COMPLETE"}
    children = [
        e
        for e in events
        if e["eventType"] == "COMPLETE" and e["run"]["facets"].get("parent", {}).get("run", {}).get("runId") in runs
    ]
    return runs, children


# ---- validation against the specification's JSON schemas -------------------

SPEC_BASE = "https://openlineage.io/spec/"


@dataclass(frozen=True)
class Invalid:
    """An event, or one facet of it, that its schema refuses."""

    file: Path
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file.name}: {self.where}: {self.message}"


class SpecValidator:
    """Validates events against a local copy of the OpenLineage JSON schemas (no network).

    `spec_dir` holds `OpenLineage.json` and `facets/*.json`, as published
    at https://openlineage.io/spec/. The event is checked against the core
    schema (RunEvent, DatasetEvent or JobEvent); each facet whose
    `_schemaURL` is one of the specification's facets is also checked
    against that facet's schema. Facets of other producers (Airflow's,
    dbt's) are checked as facets (`BaseFacet`/`*DatasetFacet`) by the core
    schema only: their schemas are their producers'.
    """

    def __init__(self, spec_dir: Path):
        from referencing import Registry, Resource

        self.spec_dir = spec_dir
        core = json.loads((spec_dir / "OpenLineage.json").read_text())
        resources = [(core["$id"], Resource.from_contents(core))]
        self.facets: dict[str, tuple[str, dict[str, Any]]] = {}
        for path in sorted((spec_dir / "facets").glob("*.json")):
            schema = json.loads(path.read_text())
            resources.append((schema["$id"], Resource.from_contents(schema)))
            self.facets[path.stem] = (schema["$id"], schema)
        self.registry = Registry().with_resources(resources)
        self.core_id = core["$id"]
        self.core = core

    def _validator(self, ref: str):
        from jsonschema import Draft202012Validator

        return Draft202012Validator({"$ref": ref}, registry=self.registry)

    def errors(self, file: Path, event: dict[str, Any]) -> list[Invalid]:
        kind = "RunEvent" if "run" in event else "JobEvent" if "job" in event else "DatasetEvent"
        found = [
            Invalid(file, f"{kind} {_describe(event)} at /{'/'.join(map(str, e.absolute_path))}", e.message)
            for e in self._validator(f"{self.core_id}#/$defs/{kind}").iter_errors(event)
        ]
        for where, facet in _facets(event):
            schema_url = facet.get("_schemaURL", "")
            if not schema_url.startswith(SPEC_BASE + "facets/"):
                continue
            document, _, fragment = schema_url.partition("#")
            name = document.rpartition("/")[2]
            local = self.facets.get(name.removesuffix(".json"))
            if local is None:
                found.append(Invalid(file, where, f"no schema {name} in {self.spec_dir}"))
                continue
            ref = local[0] + ("#" + fragment if fragment else "")
            for error in self._validator(ref).iter_errors(facet):
                found.append(Invalid(file, f"{_describe(event)} {where}/{'/'.join(map(str, error.absolute_path))}", error.message))
        return found


def _describe(event: dict[str, Any]) -> str:
    job = event.get("job", {})
    return f"{event.get('eventType', '')} {job.get('namespace', '')}/{job.get('name', '')}".strip()


def _facets(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, facet) for every facet of the event: run, job, inputs and outputs."""
    groups: list[tuple[str, Any]] = [(part, event.get(part, {}).get("facets")) for part in ("run", "job")]
    for part in ("inputs", "outputs"):
        for i, dataset in enumerate(event.get(part) or []):
            for group in ("facets", "inputFacets", "outputFacets"):
                groups.append((f"{part}[{i}] {dataset.get('name')}.{group}", dataset.get(group)))
    if "dataset" in event:
        groups.append(("dataset.facets", event["dataset"].get("facets")))
    for where, facets in groups:
        for key, facet in (facets or {}).items():
            if isinstance(facet, dict):
                yield f"{where}.{key}", facet
