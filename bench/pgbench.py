"""pgbench, PostgreSQL's own load generator, driven from Python: a custom script against
a mergepoint database as one of its roles, in the same run as the path it is compared to."""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from schema.urls import url_params


@dataclass(frozen=True)
class Result:
    tps: float
    transactions: int
    failed: int
    latency_ms: float  # average
    p50_ms: float = 0.0  # from the per-transaction log (latencies=True)
    p99_ms: float = 0.0


def available() -> bool:
    return shutil.which("pgbench") is not None


def run(
    url: str,
    script: str,
    *,
    clients: int = 8,
    seconds: int = 10,
    threads: int = 2,
    protocol: str = "simple",
    latencies: bool = False,
) -> Result:
    """``pgbench -n -f script -c clients -T seconds -M protocol`` against ``url`` (its role,
    its database); with ``latencies``, p50 and p99 from pgbench's per-transaction log."""
    if not available():
        raise SystemExit("pgbench is not installed: apt-get install postgresql-client")
    params = url_params(url)
    env = {"PGPASSWORD": params["password"]} if "password" in params else {}
    argv = ["pgbench", "-n", "-c", str(clients), "-j", str(min(threads, clients)),
            "-T", str(seconds), "-M", protocol,
            "-U", params["user"], "-d", params["dbname"]]  # fmt: skip
    if "host" in params:
        argv += ["-h", params["host"]]
    if "port" in params:
        argv += ["-p", params["port"]]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "script.sql"
        path.write_text(script)
        if latencies:
            argv += ["--log", "--log-prefix", str(Path(tmp) / "tx")]
        done = subprocess.run(
            [*argv, "-f", str(path)],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
            env={"PATH": "/usr/bin:/bin", **env},
            cwd=tmp,
        )
        # Each log line: client, transaction, latency in microseconds, ... pgbench reads
        # its clock once per wake-up of a thread, so at tens of thousands of tps many short
        # transactions log 0 (measured: 39,414 of 91,773 for SELECT 1 at 16 clients): the
        # p50 of sub-millisecond statements reads low (0.00), their average and the p99 hold.
        measured = sorted(
            int(fields[2]) / 1000
            for log in Path(tmp).glob("tx.*")
            for fields in (line.split() for line in log.read_text().splitlines())
            if len(fields) >= 3 and fields[2].isdigit()
        )
    if done.returncode != 0:
        raise SystemExit(f"pgbench failed: {done.stderr.strip() or done.stdout.strip()}")
    out = done.stdout
    tps = re.search(r"tps = ([\d.]+)", out)
    processed = re.search(r"number of transactions actually processed: (\d+)", out)
    if tps is None or processed is None:
        raise SystemExit(f"pgbench printed no result: {out.strip()[-300:]}")
    failed = re.search(r"number of failed transactions: (\d+)", out)
    latency = re.search(r"latency average = ([\d.]+) ms", out)
    return Result(
        tps=float(tps.group(1)),
        transactions=int(processed.group(1)),
        failed=int(failed.group(1)) if failed else 0,
        latency_ms=float(latency.group(1)) if latency else 0.0,
        p50_ms=round(statistics.median(measured), 3) if measured else 0.0,
        p99_ms=round(measured[int(len(measured) * 0.99)], 3) if measured else 0.0,
    )
