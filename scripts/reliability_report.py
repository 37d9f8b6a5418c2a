"""Write docs/reliability.md from the reliability results of a test run (issue 14).

The reliability tests (`pytest -m reliability`, part of `./scripts/test`)
write their figures as JSON into `.govkpi/reliability/` (or
`$GOVKPI_RELIABILITY_OUT`); this script turns them into the results table:

    ./scripts/test -m reliability
    .venv/bin/python scripts/reliability_report.py [--results DIR] [--out docs/reliability.md]

It reports what the files say and nothing else: a missing file is named
as missing, not filled in.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load(folder: Path, name: str) -> dict | None:
    path = folder / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _commit(checkout: Path) -> str:
    """The checkout's commit, saying so when its files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=checkout, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} with uncommitted changes" if dirty else head


def render(folder: Path, checkout: Path = ROOT) -> str:
    faults = _load(folder, "faults.json")
    readers = _load(folder, "concurrent_readers.json")
    corpus = _load(folder, "malformed_inputs.json")
    scan = _load(folder, "clear_id_scan.json")
    missing = [n for n, v in (("faults.json", faults), ("concurrent_readers.json", readers),
                               ("malformed_inputs.json", corpus), ("clear_id_scan.json", scan)) if v is None]
    lines = [
        "# Reliability: faults, load and hostile input",
        "",
        f"Produced by `scripts/reliability_report.py` from the results of a test run "
        f"(commit {_commit(checkout)}, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC). "
        "The tests are in `tests/reliability/` and `tests/e2e/test_no_clear_ids.py`; CI runs them all.",
        "",
    ]
    if missing:
        lines += [f"**Missing results:** {', '.join(missing)} (those tests did not run).", ""]
    lines += ["## Summary", "", "| measure | result |", "| --- | ---: |"]
    if faults is not None:
        survived = sum(
            1 for f in faults.values()
            if (f.get("raw_rows") is not None and f["raw_rows"] == f.get("distinct_rows") and f.get("manifest_loaded") == 1)
            or f.get("publication_stands")
        )
        lines.append(
            "| faults injected (loader killed and server stopped mid-COPY; a run killed in build, gate and publish; "
            f"a full and a read-only state folder) | {len(faults)} |"
        )
        lines.append(f"| faults survived (loaded exactly once on rerun; publication intact, error says what to fix) | {survived} |")
    if readers is not None:
        lines += [
            f"| BI reader sessions | {readers['readers']} |",
            f"| publications under load | {readers['publications']} |",
            f"| reader transactions (3 statements each, repeatable read) | {readers['reader_transactions']:,} |",
            f"| reader errors (lock waits over {readers['lock_timeout_s']:.0f} s count as errors) | {readers['errors']} |",
            f"| mixed reads | {readers['mixed_reads']} |",
            f"| longest reader transaction, s (p99) | {readers['max_transaction_s']} ({readers['p99_transaction_s']}) |",
            f"| longest publication, s | {readers['publish_seconds_max']} |",
        ]
    if corpus is not None:
        handled = {k: v for k, v in corpus.items() if v.get("handled")}
        lines += [
            f"| malformed inputs tried | {len(corpus)} |",
            f"| handled as expected (loaded / refused / skipped) | {len(handled)} "
            f"({sum(v['handled'] == 'loaded' for v in handled.values())} / {sum(v['handled'] == 'refused' for v in handled.values())} / "
            f"{sum(v['handled'] == 'skipped' for v in handled.values())}) |",
            f"| valid rows lost | {sum(v.get('rows_lost', 0) for v in corpus.values())} |",
            f"| rows quarantined with file, row, column and reason | {sum(v.get('rows_quarantined', 0) for v in corpus.values())} |",
        ]
    if scan is not None:
        lines += [
            f"| clear resident IDs found (tables, logs, XComs, events, artifacts, docs) | {scan['clear_ids_found']} |",
            f"| searched: tables / rows / files / MiB | {scan['tables']} / {scan['rows']:,} / {scan['files']} / {scan['bytes'] / 2**20:.1f} |",
        ]
    if faults is not None:
        lines += ["", "## Faults", "", "| fault | rows copied when injected | loader exit | raw rows after rerun | distinct | manifest rows | unfinished batches |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, f in faults.items():
            if f.get("raw_rows") is None:
                continue
            injected = f.get("rows_copied_when_killed", f.get("rows_copied_when_stopped", ""))
            lines.append(
                f"| {name.replace('_', ' ')} | {injected} | {f.get('loader_exit', 'SIGKILL')} | {f['raw_rows']:,} | "
                f"{f['distinct_rows']:,} | {f['manifest_loaded']} | {f['batches_unfinished']} |"
            )
        messages = [f["loader_message"] for f in faults.values() if f.get("loader_message")]
        if messages:
            lines += ["", "What the loader said when the server went away:", "", *(f"> {m}" for m in messages)]
        for name, f in faults.items():
            if f.get("publication_stands"):
                said = "`document` said" if name.startswith("document") else "the test found"
                lines += ["", f"{name.replace('_', ' ').capitalize()}: the publication stands; {said}:", "", f"> {f['message']}"]
    if corpus is not None:
        lines += ["", "## Malformed inputs", "", "| case | kind | outcome | rows read / loaded / quarantined | message |", "| --- | --- | --- | --- | --- |"]
        for name, c in corpus.items():
            counts = f"{c.get('rows_read', '')} / {c.get('rows_loaded', '')} / {c.get('rows_quarantined', '')}" if c.get("handled") == "loaded" else ""
            message = (c.get("message") or "").replace("|", "\\|").replace("\n", " ")
            # paths of the test's temporary folder say nothing to a reader
            message = message.split(": ", 1)[-1] if message.startswith("skipped /") else message
            lines.append(f"| {name} | {c['kind']} | {c.get('handled', 'FAILED')} | {counts} | {message[:220]} |")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / ".govkpi" / "reliability")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability.md")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the checkout the results came from (for its commit)")
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        print(f"no results in {args.results}: run ./scripts/test -m reliability first", file=sys.stderr)
        return 1
    args.out.write_text(render(args.results, args.checkout), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
