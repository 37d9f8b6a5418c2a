"""One dbt process for the warehouse build: parse once, `dbt build`, then the docs from the same manifest.

Run as `python -m govkpi.dbt_session --project-dir P --target-path T [--docs]`
by `govkpi.transform.dbt_build`, never imported by a caller that has
Airflow loaded: dbt's logging and globals stay in this process.

dbt's start-up (imports, loading the project, partial parse) is most of a
small build's fixed cost; `dbt build` followed by `dbt docs generate` as two
commands paid it twice. Here the manifest parsed once is handed to both
(`dbtRunner(manifest=...)`); the docs step runs with `--no-compile` on the
manifest the build has just compiled, and adds only the catalog queries
(docs/adr/0014).

Exit codes follow dbt's: 0 built and tested, 1 dbt ran and reported
failing nodes (run_results.json says which), 2 dbt could not run (a retry
may pass); and 3, the project does not parse (no retry can fix it). A docs
failure does not change the exit code: documentation never holds back a
build that passed; the missing `static_index.html` says it failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

# What a unit test's verdict depends on: the project's code and dbt itself
# (docs/adr/0025). Not the data: a unit test reads only its fixtures.
_CODE_DIRS = ("models", "macros", "seeds", "tests", "snapshots", "analyses")
_CODE_FILES = ("dbt_project.yml",)
UNIT_TESTS_PASSED = "unit_tests_passed.json"


def project_code_sha256(project_dir: Path) -> str:
    """SHA-256 over the project's code files (path and bytes) and the dbt-core and adapter versions."""
    from dbt.version import __version__ as dbt_version
    from importlib.metadata import version

    digest = hashlib.sha256(f"dbt-core {dbt_version} dbt-postgres {version('dbt-postgres')}\n".encode())
    files = [project_dir / name for name in _CODE_FILES if (project_dir / name).is_file()]
    for folder in _CODE_DIRS:
        if (project_dir / folder).is_dir():
            files += [p for p in (project_dir / folder).rglob("*") if p.is_file()]
    for path in sorted(files):
        digest.update(f"{path.relative_to(project_dir).as_posix()}\0".encode())
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _unit_tests_passed(target: Path, code: str) -> dict | None:
    """The record of the last build whose unit tests all passed on this very code, if any."""
    try:
        record = json.loads((target / UNIT_TESTS_PASSED).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("code_sha256") == code else None


def _record_unit_tests(target: Path, code: str, result) -> None:
    """Remember that this code's unit tests passed (all of them ran and passed), for the next build to skip them."""
    outcomes = [r for r in getattr(result, "results", []) or [] if getattr(r.node, "resource_type", "") == "unit_test"]
    if outcomes and all(str(r.status) == "pass" for r in outcomes):
        try:
            invocation = json.loads((target / "run_results.json").read_text())["metadata"]["invocation_id"]
        except (OSError, ValueError, KeyError):
            invocation = None
        (target / UNIT_TESTS_PASSED).write_text(
            json.dumps({"code_sha256": code, "invocation_id": invocation, "unit_tests": len(outcomes)})
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m govkpi.dbt_session", description=__doc__.split("\n\n")[0])
    parser.add_argument("--project-dir", required=True)
    parser.add_argument("--target-path", required=True)
    parser.add_argument("--log-path", required=True)
    parser.add_argument("--docs", action="store_true", help="also write dbt docs (static_index.html, catalog.json)")
    args = parser.parse_args(argv)

    from dbt.cli.main import dbtRunner

    common = ["--project-dir", args.project_dir, "--target-path", args.target_path, "--log-path", args.log_path]
    parsed = dbtRunner().invoke(["parse", *common])
    if not parsed.success or parsed.result is None:
        print(f"govkpi: dbt parse failed: {parsed.exception or 'see the messages above'}", file=sys.stderr)
        return 3
    manifest = parsed.result
    # Unit tests read only their fixtures: once they have all passed on this
    # code, another build of the same code cannot change their verdict
    # (docs/adr/0025). They run again as soon as a model, macro, seed, test
    # or dbt itself changes.
    target = Path(args.target_path)
    code = project_code_sha256(Path(args.project_dir))
    passed = _unit_tests_passed(target, code)
    build = ["build", *common]
    if passed:
        print(f"govkpi: unit tests skipped: the {passed.get('unit_tests')} unit tests of this code (sha256 {code[:12]}) "
              f"passed in dbt invocation {passed.get('invocation_id')}", flush=True)
        build += ["--exclude-resource-type", "unit_test"]
    built = dbtRunner(manifest=manifest).invoke(build)
    if built.exception is not None:
        print(f"govkpi: dbt build could not run: {built.exception}", file=sys.stderr)
        return 2
    if not passed:
        _record_unit_tests(target, code, built.result)
    if args.docs and built.success:
        docs = dbtRunner(manifest=manifest).invoke(["docs", "generate", "--static", "--no-compile", *common])
        if not docs.success:
            print(f"govkpi: dbt docs generate failed ({docs.exception or 'see above'}); the build stands", file=sys.stderr)
    return 0 if built.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
