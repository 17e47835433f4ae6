"""`crm start`, what `scripts/start` runs: migrate, seed the demo distributor once, serve, in one
process; started a second time on the same database it is ready again with the same logins."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.test_serve import CRM, _free_port, _ready, _wait_for

# A generous bound for a loaded CI machine; the measured figures are in README ("Quick start").
READY_WITHIN_SECONDS = 120


def _start_and_sign_in(environment: dict[str, str], port: int, log: Path) -> str:
    """Starts `crm start`, waits for /readyz, signs in as the demo director; returns what it printed."""
    with log.open("w") as output:
        server = subprocess.Popen(
            [CRM, "start", "--port", str(port)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for(lambda: _ready(port), READY_WITHIN_SECONDS, "/readyz answers 200")
            token = httpx.post(
                f"http://127.0.0.1:{port}/api/v1/auth/token",
                data={"username": "demo.director", "password": "demo-pass-2026"},
                timeout=30,
            )
            assert token.status_code == 200, token.text
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    return log.read_text()


def test_a_second_start_finds_the_database_migrated_and_seeded(tmp_path: Path) -> None:
    port = _free_port()
    environment = {
        **os.environ,
        "CRM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/crm.db",
        "CRM_VAR_DIR": str(tmp_path),
        "CRM_STORAGE_DIR": str(tmp_path / "files"),
        "CRM_LOG_LEVEL": "WARNING",
    }
    environment.pop("CRM_REDIS_URL", None)
    first = _start_and_sign_in(environment, port, tmp_path / "first.log")
    second = _start_and_sign_in(environment, port, tmp_path / "second.log")
    for printed in (first, second):
        assert "database at head" in printed
        assert "demo.director" in printed
        # The sign-in hint names where this server listens.
        assert f"127.0.0.1:{port}/api/v1/auth/token" in printed
    # Seeded once: the second start lists the same logins.
    assert second.count("demo.rep") == first.count("demo.rep") == 8


def test_starting_the_api_does_not_load_scikit_learn() -> None:
    """scikit-learn takes seconds to import; only the win-probability training job needs it."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, app.cli, app.main; print('sklearn' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"
