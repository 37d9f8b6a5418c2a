"""Benchmark: the warehouse's stages at 1x, 10x and 100x the bundled sample, full rebuild and one-month increment.

Sizes (a "township-year" is about the bundled sample: one township, one year):

- 1x:   the bundled sample (`sample_data/`), 1 township x 2023;
- 10x:  a generated county of 4 townships x 3 years (3 x 3 + the bundled 2023 = 10 township-years);
- 100x: a generated county of 20 townships x 5 years (19 x 5 + 1 = 96 township-years).

For each size, two measurements, each stage a child process run as the
warehouse DAG's task runs it (govkpi.pipeline; no Airflow scheduling around
it, which `warehouse_benchmark.py` measures), timed by wall clock with its
peak resident memory (the child's VmHWM, or dbt's peak if larger):

- **full**: an empty warehouse, every delivery: load (every department),
  build (one `dbt build` with its docs), gate (raw check + GX on the
  candidate), publish, document;
- **increment**: a warehouse holding every month but the last (loaded,
  built and published first, untimed), then the last month delivered and
  the same stages timed;
- **unchanged**: right after the increment, the same run again with no new
  file: what a run costs that has nothing to do (the floor under any
  increment: fixed costs and whatever still reads the whole archive).

Reported as ratios measured in the same run (house style: no timed test):
increment / full per stage and in total, and each stage's growth exponent
between sizes (log of the time ratio over log of the size ratio: 1 grows
with the data, 0 is a fixed cost).

Run: `.venv/bin/python benchmarks/scale_benchmark.py [--sizes 1,10,100] [--warehouse-url URL]`
(without `--warehouse-url` an embedded PostgreSQL is started and deleted).
Results go to `benchmarks/out/scale-<UTC timestamp>.json` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "benchmarks" / "out"
for extra in (ROOT, ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from ingest_benchmark import server_facts, warehouse  # noqa: E402
from warehouse_benchmark import drop_database, fresh_database  # noqa: E402

SIZES = {1: None, 10: (4, 3), 100: (20, 5)}
STAGES = ("load", "build", "gate", "publish", "document")
LAST_MONTH = "2023-12"
KEY = "benchmark-key-" + "0123456789abcdef" * 2

# Each stage as the DAG's task runs it, in a child process; it prints one JSON line.
STAGE_CODE = {
    "load": """
from ingestion.specs import DEPARTMENTS
from govkpi.pipeline import load_department
rows = 0
for code in DEPARTMENTS:
    rows += sum(f.rows_loaded or 0 for f in load_department(settings, code).files)
out = {"rows_loaded": rows}
""",
    "build": """
from govkpi.pipeline import build_audit
from govkpi.publication_docs import stage_build_docs
result = build_audit(settings, docs=True)
# As the DAG's build task: the docs are copied out for `document`; the target folder stays for the next build.
out = {"nodes": result.nodes, "docs": str(stage_build_docs(settings.state_dir, result.target_path, result.invocation_id))}
""",
    "gate": """
from govkpi.pipeline import validate_raw, validate_audit
validate_raw(settings, "benchmark")
out = {"validation_run_id": validate_audit(settings, "benchmark")}
""",
    "publish": """
from govkpi.pipeline import publish
out = {"publication_id": publish(settings, validation_run_id=args["validation_run_id"]).publication_id}
""",
    "document": """
from pathlib import Path
from govkpi.publication_docs import document_publication
out = {"docs": str(document_publication(settings, settings.require_warehouse_url(), args["publication_id"], Path(args["docs"])))}
""",
}
PRELUDE = """
import json, sys
from govkpi.settings import load_settings
settings = load_settings()
args = json.loads(sys.argv[1])
"""


# The stage's peak memory, measured in the child: its own VmHWM, and the
# largest peak of the processes it waited for (dbt's). Not the parent's wait4
# figure: on Linux a child's ru_maxrss starts at the peak of the process it
# was forked from (see benchmarks/README.md, ingest_benchmark.py).
PEAK = """
import resource
with open('/proc/self/status') as status:
    own = next(int(line.split()[1]) for line in status if line.startswith('VmHWM:'))
out['peak_kib'] = max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def run_stage(stage: str, env: dict[str, str], args: dict) -> tuple[float, float, dict]:
    """(wall seconds, peak RSS in MiB, its JSON output) of one stage in a child process."""
    code = PRELUDE + STAGE_CODE[stage] + PEAK + "\nprint('RESULT ' + json.dumps(out))\n"
    out_file = tempfile.TemporaryFile(mode="w+")
    err_file = tempfile.TemporaryFile(mode="w+")
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(args)], env=env, cwd=ROOT, stdout=out_file, stderr=err_file, text=True)
    _, status, _ = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    out_file.seek(0)
    err_file.seek(0)
    if proc.returncode != 0:
        raise RuntimeError(f"stage {stage} failed ({proc.returncode}):\n{err_file.read()[-4000:]}")
    line = next(l for l in out_file.read().splitlines() if l.startswith("RESULT "))
    out = json.loads(line.removeprefix("RESULT "))
    return seconds, out.pop("peak_kib") / 1024, out


def pipeline(env: dict[str, str]) -> dict[str, dict]:
    """Every stage in order; each stage's seconds, peak MiB and output."""
    results: dict[str, dict] = {}
    args: dict = {}
    for stage in STAGES:
        seconds, mib, out = run_stage(stage, env, args)
        args.update(out)
        results[stage] = {"seconds": round(seconds, 2), "peak_mib": round(mib, 1), **({"rows_loaded": out["rows_loaded"]} if "rows_loaded" in out else {})}
    return results


def landing_for(size: int, work: Path) -> Path:
    if SIZES[size] is None:
        return ROOT / "sample_data"
    from sample_data.generate_county import generate_county

    townships, years = SIZES[size]
    folder = work / f"county-{size}x"
    generate_county(folder, townships=townships, years=years)
    return folder


def without_last_month(landing: Path, work: Path) -> Path:
    """A landing folder of symlinks to every delivery but the last month's; `add_last_month` completes it."""
    held = work / f"{landing.name}-held"
    held.mkdir()
    (held / "register").symlink_to(landing / "register")
    for department in ("hrss", "health", "enforcement"):
        (held / department).mkdir()
        for period in sorted((landing / department).iterdir()):
            if period.is_dir() and period.name != LAST_MONTH:
                (held / department / period.name).symlink_to(period)
    return held


def add_last_month(landing: Path, held: Path) -> None:
    for department in ("hrss", "health", "enforcement"):
        (held / department / LAST_MONTH).symlink_to(landing / department / LAST_MONTH)


def environment(url: str, landing: Path, state: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"GOVKPI_WAREHOUSE_URL": url, "GOVKPI_LANDING_DIR": str(landing), "GOVKPI_STATE_DIR": str(state), "GOVKPI_PSEUDONYM_KEY": KEY})
    return env


def measure(size: int, admin_url: str, work: Path) -> dict:
    landing = landing_for(size, work)
    result: dict = {"size": size, "landing": str(landing)}
    # full rebuild
    url = fresh_database(admin_url)
    try:
        result["full"] = pipeline(environment(url, landing, work / f"state-{size}-full"))
    finally:
        drop_database(admin_url, url)
    # one-month increment
    held = without_last_month(landing, work)
    url = fresh_database(admin_url)
    try:
        env = environment(url, held, work / f"state-{size}-increment")
        pipeline(env)
        add_last_month(landing, held)
        result["increment"] = pipeline(env)
        result["unchanged"] = pipeline(env)
    finally:
        drop_database(admin_url, url)
    for kind in ("full", "increment", "unchanged"):
        result[kind]["total"] = {"seconds": round(sum(result[kind][s]["seconds"] for s in STAGES), 2)}
    return result


def exponent(t_small: float, t_large: float, size_small: int, size_large: int) -> float:
    if t_small <= 0 or t_large <= 0 or size_small == size_large:
        return float("nan")
    return math.log(t_large / t_small) / math.log(size_large / size_small)


def report(results: list[dict]) -> str:
    sizes = [r["size"] for r in results]
    lines = ["| stage | " + " | ".join(f"{s}x full s | {s}x incr. s | {s}x incr./full" for s in sizes) + " |"]
    lines.append("| --- |" + " ---: | ---: | ---: |" * len(sizes))
    for stage in (*STAGES, "total"):
        cells = []
        for r in results:
            full, inc = r["full"][stage]["seconds"], r["increment"][stage]["seconds"]
            cells += [f"{full:.1f}", f"{inc:.1f}", f"{inc / full:.2f}" if full else "-"]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    lines += ["", "| stage | " + " | ".join(f"{s}x unchanged s | {s}x unchanged/full" for s in sizes) + " |",
              "| --- |" + " ---: | ---: |" * len(sizes)]
    for stage in (*STAGES, "total"):
        cells = []
        for r in results:
            full, same = r["full"][stage]["seconds"], r["unchanged"][stage]["seconds"]
            cells += [f"{same:.1f}", f"{same / full:.2f}" if full else "-"]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    lines += ["", "| stage | peak MiB " + " | ".join(f"{s}x full" for s in sizes) + " | growth exponent, full | growth exponent, increment | growth exponent, unchanged |",
              "| --- |" + " ---: |" * (len(sizes) + 3)]
    for stage in (*STAGES, "total"):
        mib = [str(r["full"][stage].get("peak_mib", "")) for r in results]
        first, last = results[0], results[-1]
        grow_full = exponent(first["full"][stage]["seconds"], last["full"][stage]["seconds"], first["size"], last["size"])
        grow_inc = exponent(first["increment"][stage]["seconds"], last["increment"][stage]["seconds"], first["size"], last["size"])
        grow_same = exponent(first["unchanged"][stage]["seconds"], last["unchanged"][stage]["seconds"], first["size"], last["size"])
        lines.append(f"| {stage} | " + " | ".join(mib) + f" | {grow_full:.2f} | {grow_inc:.2f} | {grow_same:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,100", help="comma-separated, of 1, 10, 100")
    parser.add_argument("--warehouse-url", help="admin URL of a server to use (default: an embedded PostgreSQL)")
    parser.add_argument("--work-dir", type=Path, help="keep generated folders, state and dbt targets here (default: a temporary folder, deleted)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    results = []
    with (contextlib.nullcontext(str(args.work_dir)) if args.work_dir else tempfile.TemporaryDirectory(prefix="govkpi-scale-")) as tmp:
        work = Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        with warehouse(args.warehouse_url, work) as (admin_url, described):
            facts = server_facts(admin_url)
            for size in sizes:
                started = time.perf_counter()
                results.append(measure(size, admin_url, work))
                print(f"{size}x measured in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = OUT_DIR / f"scale-{stamp}.json"
    out.write_text(json.dumps({"server": described, "server_facts": facts, "cpus": os.cpu_count(), "results": results}, indent=2))
    print(report(results))
    print(f"\n(results: {out.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
