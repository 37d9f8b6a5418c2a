"""Documentation an auditor can open, produced for each publication and kept beside it.

`<GOVKPI_STATE_DIR>/publications/<publication id>/` holds:

- `dbt-docs/`: `dbt docs generate --static` of the build that was
  published, written by the build's own dbt process from the manifest it
  built with (docs/adr/0014; `static_index.html` opens without a server;
  `index.html`, `manifest.json` and `catalog.json` serve `dbt docs
  serve`-style hosting): every model's SQL (as written and compiled),
  columns, tests and lineage graph, with the build's catalog. Descriptions
  are in Chinese and English, as the table and column comments in
  PostgreSQL.
- `gx-data-docs/`: the Great Expectations Data Docs of the validation run
  that passed the publication (`index.html`), with `validations/`, the
  run's full GX results as JSON.
- `publication.json`: the publication's log row with its files and checks,
  as `govkpi audit publication ID --json` prints it.

The folder is written whole under a temporary name and renamed into
place, so a folder that exists is complete. The warehouse DAG's `document`
task writes it right after `publish`, from the docs its `build_audit` task
left in `<state>/dbt/docs/<invocation id>/`.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import psycopg

from govkpi.errors import GovkpiError
from govkpi.jsonvalues import jsonable
from govkpi.settings import Settings

log = logging.getLogger(__name__)

PUBLICATIONS_SUBDIR = "publications"
# Where each build's dbt docs wait for `document` (<state>/dbt/docs/<invocation id>/).
DOCS_SUBDIR = ("dbt", "docs")


class DocsUnavailable(GovkpiError):
    """A publication's documentation cannot be produced (named input missing)."""


def stage_build_docs(state_dir: Path, target: Path, invocation_id: str) -> Path:
    """Copy a build's dbt docs out of dbt's target folder for `document`; returns the copy's folder.

    The target folder itself stays: its partial-parse state and the record
    of the code's passed unit tests (docs/adr/0025) serve the next build,
    which overwrites the docs in it.
    """
    from govkpi.transform import DBT_DOCS_FILES

    root = state_dir.joinpath(*DOCS_SUBDIR)
    staged = root / (invocation_id or "unknown")
    # One build at a time writes here (max_active_runs=1, the pool): what an
    # earlier run left (its gate failed, so it was never documented) goes.
    if root.is_dir():
        for old in root.iterdir():
            shutil.rmtree(old, ignore_errors=True)
    staged.mkdir(parents=True)
    missing = [name for name in DBT_DOCS_FILES if not (target / name).is_file()]
    if missing:
        # The build passed; its documentation failed (dbt logged why). `document` says so after publish.
        log.warning("dbt docs of invocation %s are incomplete (missing %s)", invocation_id, ", ".join(missing))
    for name in DBT_DOCS_FILES:
        if (target / name).is_file():
            shutil.copyfile(target / name, staged / name)
    return staged


def publication_dir(settings: Settings, publication_id: int) -> Path:
    return settings.state_dir / PUBLICATIONS_SUBDIR / str(publication_id)


def document_publication(settings: Settings, warehouse_url: str, publication_id: int, dbt_docs: Path) -> Path:
    """Write the publication's documentation folder from the build's dbt docs in `dbt_docs`; returns it."""
    from expectations.gate import data_docs_dir
    from govkpi import audit
    from govkpi.transform import DBT_DOCS_FILES

    with psycopg.connect(warehouse_url) as conn:
        record = audit.publication(conn, publication_id)
    validation_run_id = record["validation_run_id"]
    validations = settings.state_dir / "validations"
    gx_docs = data_docs_dir(validations, validation_run_id) if validation_run_id is not None else None
    if gx_docs is None or not (gx_docs / "index.html").is_file():
        raise DocsUnavailable(
            f"publication {publication_id}: the Data Docs of its validation run {validation_run_id} are not in "
            f"{validations} (built there by the gate of the run that published it); "
            "documentation can only be produced on the machine, or volume, that ran that gate"
        )
    missing = [name for name in DBT_DOCS_FILES if not (dbt_docs / name).is_file()]
    if missing:
        raise DocsUnavailable(
            f"publication {publication_id}: the dbt docs of its build are not complete in {dbt_docs} "
            f"(missing {', '.join(missing)}); the build task's log says why `dbt docs generate` failed. "
            "The publication itself stands; the next build documents the next one"
        )

    final = publication_dir(settings, publication_id)
    partial = final.with_name(final.name + ".partial")
    try:
        return _write_docs(final, partial, dbt_docs, gx_docs, validations, validation_run_id, record, publication_id)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)  # give back what the attempt took
        raise DocsUnavailable(_write_failure(exc, final.parent, publication_id)) from None


def _write_failure(exc: OSError, folder: Path, publication_id: int) -> str:
    """What to free or fix when the documentation cannot be written."""
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = (f"the disk holding {folder} is full ({exc.strerror}): free space there, or move the state folder "
                "(GOVKPI_STATE_DIR) to a larger disk")
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        what = (f"{folder} cannot be written ({exc.strerror}): make it writable for the user running govkpi, "
                "or point GOVKPI_STATE_DIR at a writable folder")
    else:
        what = f"writing into {folder} failed ({exc.strerror or exc})"
    return (
        f"publication {publication_id} is published and stands, but its documentation was not written: {what}. "
        "Nothing partial was left behind; the next run documents its own publication"
    )


def _write_docs(final: Path, partial: Path, dbt_docs: Path, gx_docs: Path, validations: Path,
                validation_run_id: int, record: dict, publication_id: int) -> Path:
    from govkpi.transform import DBT_DOCS_FILES

    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)

    # The build's docs: the project's graph, descriptions and the build's catalog.
    (partial / "dbt-docs").mkdir()
    for name in DBT_DOCS_FILES:
        shutil.copyfile(dbt_docs / name, partial / "dbt-docs" / name)

    shutil.copytree(gx_docs, partial / "gx-data-docs")
    results = sorted(validations.glob(f"validation_run_{validation_run_id}_*.json"))
    (partial / "validations").mkdir()
    for path in results:
        shutil.copyfile(path, partial / "validations" / path.name)

    (partial / "publication.json").write_text(
        json.dumps(jsonable(record), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    if final.exists():
        shutil.rmtree(final)
    partial.rename(final)
    shutil.rmtree(dbt_docs, ignore_errors=True)
    log.info(
        "publication %s documented in %s (dbt docs, GX Data Docs of validation run %s, %d result files)",
        publication_id, final, validation_run_id, len(results),
    )
    return final
