"""`mergepoint up` in a subprocess, and logging in to its back office, for the e2e tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from schema.paths import ROOT
from tests.support import free_port


class Up:
    """A running `mergepoint up`, its output collected line by line."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "schema.cli", "up", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
        self.process.stdout.close()

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            if self.process.poll() is not None:
                self.reader.join(5)
                break
            time.sleep(0.1)
        raise AssertionError(f"never saw {pattern!r}; output:\n" + "\n".join(self.lines))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        code = self.process.wait(30)
        self.reader.join(5)
        return code


def admin_login(client: httpx.Client, base: str, prefix: str = "") -> None:
    """Log in as `up`'s staff user through the admin's form, with its CSRF token; ``base``
    is the server, ``prefix`` where the back office is mounted on it."""
    page = client.get(f"{base}{prefix}/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = client.post(
        f"{base}{prefix}/admin/login/?next={prefix}/admin/",
        data={"csrfmiddlewaretoken": token, "username": "staff",
              "password": "correct-horse-battery", "next": f"{prefix}/admin/"},
        headers={"Referer": f"{base}{prefix}/admin/login/", "Origin": base},
    )  # fmt: skip
    assert response.status_code == 302, response.text
    assert response.headers["location"] == f"{prefix}/admin/", response.headers


@contextmanager
def gunicorn(target: str, env: dict[str, str], log: Path, probe: str) -> Iterator[str]:
    """``gunicorn TARGET`` on a free port, as its users start it; yields its base URL once
    ``probe`` answers 200; fails with the log if it dies; no traceback may be in it."""
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", target, "--bind", f"127.0.0.1:{port}",
            "--workers", "2", "--threads", "4", "--no-control-socket"]  # fmt: skip
    with log.open("w") as out:
        server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                output = log.read_text()
                raise AssertionError(f"gunicorn exited with {server.returncode}:\n{output}")
            try:
                if httpx.get(base + probe, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"gunicorn never answered {probe}:\n{log.read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert "Traceback" not in log.read_text(), log.read_text()


def app_env(database, **extra: str) -> dict[str, str]:
    """Only what the apps read: each one's URL, the back office's secret; nothing else."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "STOREFRONT_DATABASE_URL": database.url("storefront"),
        "BACKOFFICE_DATABASE_URL": database.url("backoffice"),
        "DJANGO_SECRET_KEY": "one-host-test-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        **extra,
    }
