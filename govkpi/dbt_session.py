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
import sys


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
    built = dbtRunner(manifest=manifest).invoke(["build", *common])
    if built.exception is not None:
        print(f"govkpi: dbt build could not run: {built.exception}", file=sys.stderr)
        return 2
    if args.docs and built.success:
        docs = dbtRunner(manifest=manifest).invoke(["docs", "generate", "--static", "--no-compile", *common])
        if not docs.success:
            print(f"govkpi: dbt docs generate failed ({docs.exception or 'see above'}); the build stands", file=sys.stderr)
    return 0 if built.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
