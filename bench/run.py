"""Run every benchmark, then write bench/results/latest.json and latest.md.

    python -m bench.run            # the full figures (1M-order shops; ~10 min on 2 cores)
    python -m bench.run --quick    # small sizes, to see that everything runs (~2 min)
    python -m bench.run triggers   # one (or a few); latest.* keeps the others' last results

Each benchmark is its own module (``python -m bench.<name>``, see its docstring) and writes
bench/results/<name>.json; this collects them with the headline ratios, each comparing our
path with a baseline measured on the same machine in the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.common import RESULTS

BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    # name: (full arguments, quick arguments)
    "storefront": (["--seconds", "5"], ["--seconds", "3", "--rounds", "1"]),
    "backoffice": ([], ["--large", "20000", "-n", "10"]),
    "seed": ([], ["--orders", "20000"]),
    "triggers": ([], ["--large", "20000", "-n", "200"]),
    "reports": ([], ["--orders", "20000", "--repeat", "1"]),
    "limits": ([], ["--seconds", "2"]),
    "onehost": ([], ["--rounds", "1", "--seconds", "3"]),
    "pooler": ([], ["--seconds", "6"]),
    "dashboard": ([], ["--large", "20000", "-n", "10", "--seconds", "3", "--rounds", "2"]),
    "jobs": ([], ["--rows", "20000", "--jobs", "500"]),
}


def headline(name: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    """The ratios worth a line in the summary (the rest stays in each JSON)."""
    lines = [
        (key, str(value))
        for key, value in sorted(_flatten(data).items())
        if any(part.startswith(("ratio", "large_over_small")) for part in key.split("."))
    ]
    if name == "reports":
        for case in data.get("cases", []):
            label = case["report"] + (" (180 days)" if "date_from" in case["params"] else "")
            lines.append(
                (f"{label}: runner ms (raw ms)", f"{case['runner_ms']} ({case['raw_ms']})")
            )
    return lines


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
    elif not isinstance(data, list):
        out[prefix.rstrip(".")] = data
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument(
        "--collect", action="store_true", help="run nothing: rebuild latest.* from the results"
    )
    parser.add_argument(
        "only", nargs="*", help=f"benchmarks to run (default all: {', '.join(BENCHMARKS)})"
    )
    args = parser.parse_args()
    names = [] if args.collect else args.only or list(BENCHMARKS)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; known: {', '.join(BENCHMARKS)}")

    ran: dict[str, float] = {}
    failed: list[str] = []
    for name in names:
        full, quick = BENCHMARKS[name]
        argv = [sys.executable, "-m", f"bench.{name}", *(quick if args.quick else full)]
        print(f"\n=== {' '.join(argv[1:])}", flush=True)
        started = time.perf_counter()
        if subprocess.run(argv).returncode != 0:
            failed.append(name)
            continue
        ran[name] = round(time.perf_counter() - started, 1)

    # Every benchmark's latest result: those just run, and the others as last written.
    collected: dict[str, Any] = {}
    for name in BENCHMARKS:
        path = RESULTS / f"{name}.json"
        if path.exists():
            collected[name] = json.loads(path.read_text())
            if name in ran:
                collected[name]["wall_seconds"] = ran[name]

    summary = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "ran": sorted(ran),
        "benchmarks": collected,
        "failed": failed,
    }
    (RESULTS / "latest.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        f"# Benchmarks, {summary['date']}" + (" (quick sizes)" if args.quick else ""),
        "",
        "| benchmark | figure | value |",
        "| --- | --- | --- |",
    ]
    for name, data in collected.items():
        for figure, value in headline(name, data):
            lines.append(f"| {name} | {figure} | {value} |")
        lines.append(f"| {name} | date | {data['date']} |")
    (RESULTS / "latest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
