"""Real tracking servers for tests: `mlflow server` processes and PostgreSQL databases.

Everything listens on 127.0.0.1 only, every wait is bounded, and every server is stopped by
its process group when the test ends. ``tests/conftest.py`` registers this module as a plugin,
so any test can ask for the fixtures by name:

- ``postgres_database``: the URL of a fresh PostgreSQL database of the test's own
  (``postgresql://postgres@127.0.0.1:5432/improvenn_test_...``), dropped afterwards;
  ``new_postgres_database``: a factory for as many as a test needs (an MLflow backend store
  and an Optuna storage, say). Both skip the test, saying why, when PostgreSQL does not
  answer on 127.0.0.1:5432 or its driver (psycopg, SQLAlchemy 2.1's default for
  ``postgresql://``) is missing. The server must trust local connections of ``postgres``.
- ``mlflow_server``: a running ``mlflow server``, once with an sqlite and once with a
  PostgreSQL backend store (parametrized). Its artifacts are served through the server
  (``mlflow-artifacts:/``, the default artifact root) from ``tmp_path/artifacts``.
- :class:`MlflowServer` directly, for a server a test stops and restarts on the same store
  (``MlflowServer(backend_uri, tmp_path).start()``; ``.stop()``; ``.start()`` again), or one
  with MLflow's basic-auth app (``basic_auth=True``; users ``ADMIN_USER``/``ADMIN_PASSWORD``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
ADMIN_USER, ADMIN_PASSWORD = "admin", "improvenn-admin-pw-1"
_START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class MlflowServer:
    """An ``mlflow server`` process on a loopback port; restartable on the same store."""

    backend_uri: str
    workdir: Path
    basic_auth: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MlflowServer:
        # no job runner: its two extra worker processes would compete with the tests for CPU
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        args = [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
            "--port", str(self.port), "--workers", "1",
            "--backend-store-uri", self.backend_uri,
            "--artifacts-destination", (self.workdir / "artifacts").as_uri(),
        ]
        if self.basic_auth:
            args += ["--app-name", "basic-auth"]
            env["MLFLOW_AUTH_CONFIG_PATH"] = str(self._auth_config())
            env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = uuid.uuid4().hex
        log = (self.workdir / f"server-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_until_healthy()
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"mlflow server not healthy in {_START_TIMEOUT_S}s:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 20) -> str:
        log = self.workdir / f"server-{self.port}.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def _auth_config(self) -> Path:
        path = self.workdir / "basic_auth.ini"
        path.write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = sqlite:///{self.workdir / 'basic_auth.db'}\n"
            f"admin_username = {ADMIN_USER}\nadmin_password = {ADMIN_PASSWORD}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        return path


def postgres_available() -> bool:
    try:
        with socket.create_connection((POSTGRES["host"], POSTGRES["port"]), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def new_postgres_database() -> Iterator[Callable[[], str]]:
    """Makes PostgreSQL databases of this test's own (URLs), all dropped afterwards."""
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    psycopg = pytest.importorskip("psycopg", reason="PostgreSQL tests need psycopg[binary]")

    names: list[str] = []
    with psycopg.connect(dbname="postgres", autocommit=True, **POSTGRES) as admin:

        def create() -> str:
            name = f"improvenn_test_{uuid.uuid4().hex[:12]}"
            admin.execute(f'CREATE DATABASE "{name}"')
            names.append(name)
            return f"postgresql://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{name}"

        try:
            yield create
        finally:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_database(new_postgres_database: Callable[[], str]) -> str:
    """One PostgreSQL database of this test's own; its URL."""
    return new_postgres_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def mlflow_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MlflowServer]:
    """A running ``mlflow server`` with an sqlite or a PostgreSQL backend store."""
    if request.param == "postgresql":
        backend = request.getfixturevalue("postgres_database")
    else:
        backend = f"sqlite:///{tmp_path / 'server.db'}"
    server = MlflowServer(backend, tmp_path).start()
    try:
        yield server
    finally:
        server.stop()
