"""The WSGI servers `mergepoint up` runs the apps under (schema.servers), each started with
the command line up gives it: idle keep-alive connections never starve a new one, and
`mergepoint up --server gunicorn` still runs the whole stack."""

from __future__ import annotations

import http.client
import subprocess
import time

import httpx
import psutil
import pytest

from schema import servers
from schema.paths import ROOT
from tests.integration.support import Up
from tests.reliability.conftest import STOREFRONT_WSGI, storefront_env
from tests.support import free_port

pytestmark = pytest.mark.slow

# Connections held open at once: more than a worker's threads times the workers (a browser
# opens six per site, wrk sixteen), each after one answered request, i.e. kept alive idle.
HELD = 2 * servers.THREADS * 2 + 4


@pytest.mark.parametrize("server", servers.NAMES)
def test_idle_keep_alive_connections_never_starve_a_new_one(server, fresh_db, tmp_path):
    port = free_port()
    serve = servers.Serve(host="127.0.0.1", port=port, workers=2)
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            servers.argv(server, STOREFRONT_WSGI, serve),
            cwd=ROOT,
            env=storefront_env(fresh_db.url("storefront")),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    held: list[http.client.HTTPConnection] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        for i in range(HELD):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            held.append(conn)
            try:
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
            except TimeoutError:
                pytest.fail(f"{server}: connection {i + 1} of {HELD} got no answer in 10 s")
            assert response.status == 200
            assert response.getheader("Connection", "").lower() != "close"  # kept alive
    finally:
        for conn in held:
            conn.close()
        process.terminate()
        code = process.wait(30)
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text(), log.read_text()


def test_up_runs_both_apps_under_gunicorn_when_asked(up_env):
    sf_port, bo_port = free_port(), free_port()
    up = Up(up_env, "--server", "gunicorn", "--no-seed",
            "--storefront-port", str(sf_port), "--backoffice-port", str(bo_port))  # fmt: skip
    children: list[psutil.Process] = []
    try:
        up.wait_for(r"mergepoint is up")
        children = psutil.Process(up.process.pid).children(recursive=True)
        served = [" ".join(p.cmdline()) for p in children if "gunicorn" in " ".join(p.cmdline())]
        assert len(served) == 6, served  # two masters, two workers each
        assert httpx.get(f"http://127.0.0.1:{sf_port}/readyz", timeout=10).status_code == 200
        login = httpx.get(f"http://127.0.0.1:{bo_port}/admin/login/", timeout=10)
        assert login.status_code == 200
        output = "\n".join(up.lines)
        assert "storefront | " in output and "Listening at: " in output, output
    finally:
        code = up.end()
    assert code == 0, "\n".join(up.lines)
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], alive
