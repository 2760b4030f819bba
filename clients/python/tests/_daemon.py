"""Starts and stops a real planificador daemon for the tests.

Each test module gets its own daemon on free loopback ports with its own state directory
and executor name, so the suite never touches a daemon someone else is running.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]  # clients/python/tests -> the repository root
sys.path.insert(0, str(HERE.parent))  # the package, uninstalled

import planificador  # noqa: E402

BIN = Path(os.environ.get("PLANIFICADOR_BIN", str(REPO / "build" / "bin")))
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _set_key(text: str, key: str, value: str) -> str:
    """Replaces the value of the first `key = …` line of config.toml's text (keys of
    [server], [http] and [docker] are each unique in the file). A key that config.toml
    only shows commented out (`# pool = 2`, `# max_body_bytes = …`) has that line made a
    real one, in the section where it stands; its trailing comment stays."""
    pattern = re.compile(rf'^{key}\s*=\s*("[^"]*"|\S+)', re.MULTILINE)
    if not pattern.search(text):
        pattern = re.compile(rf'^#\s*{key}\s*=\s*("[^"]*"|\S+)', re.MULTILINE)
        if not pattern.search(text):
            raise AssertionError(f"config.toml has no `{key}` key to replace")
    return pattern.sub(lambda _: f"{key} = {value}", text, count=1)


def _curve_table(key: Path, clients_allow: Path) -> str:
    return f'\n[curve]\nkey = "{key}"\nclients_allow = "{clients_allow}"\n'


class CurveFiles:
    """Key files made by planctl keygen in `directory`: the daemon's pair, an allowed
    client's pair (listed in the allow-list) and a stranger's pair (not listed)."""

    def __init__(self, directory: Path) -> None:
        planctl = BIN / "planctl"
        _wait_for_binary(planctl)
        for name in ("daemon", "client", "stranger"):
            subprocess.run([str(planctl), "keygen", str(directory / name)], check=True, capture_output=True)
        self.daemon_key = directory / "daemon.key"
        self.daemon_pub = directory / "daemon.pub"
        self.allow_list = directory / "clients.pub"
        self.allow_list.write_text((directory / "client.pub").read_text())
        self.client = planificador.CurveKeys.from_files(self.daemon_pub, directory / "client.key")
        self.stranger = planificador.CurveKeys.from_files(self.daemon_pub, directory / "stranger.key")


def _wait_for_binary(path: Path) -> None:
    # Another build may be relinking the binary; it comes back within seconds. A binary that
    # stays missing is an error, not a skip: a suite that tested nothing must not pass.
    deadline = time.monotonic() + float(os.environ.get("PLANIFICADOR_BIN_WAIT_S", "60"))
    while not os.access(path, os.X_OK):
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} is missing (set PLANIFICADOR_BIN)")
        time.sleep(0.5)


class Daemon:
    """One planificador process with a config derived from the shipped config.toml."""

    def __init__(self, name: str, control: bool = False, http: bool = False,
                 token: Optional[str] = None, settings: Optional[dict[str, str]] = None,
                 curve: bool = False) -> None:
        """`http`: serve the HTTP API on a free loopback port (self.http_port), with bearer
        `token` when given; `settings`: more [server]/[http]/[docker] keys as TOML values;
        `curve`: a [curve] table with keys from planctl keygen (self.curve_files), whose
        allowed client key this object's own clients use.

        server.clients gets a free port too (self.clients)."""
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"plan-py-{name}-"))
        self.intake = f"tcp://127.0.0.1:{free_port()}"
        self.events = f"tcp://127.0.0.1:{free_port()}"
        self.control: Optional[str] = f"tcp://127.0.0.1:{free_port()}" if control else None
        self.clients = f"tcp://127.0.0.1:{free_port()}"
        self.executor = f"pyclient-{name}-{os.getpid()}"
        self.config = self.dir / "config.toml"
        self.log_path = self.dir / "daemon.log"
        self.process: Optional[subprocess.Popen[bytes]] = None

        text = (REPO / "config.toml").read_text()
        text = _set_key(text, "intake", f'"{self.intake}"')
        text = _set_key(text, "events", f'"{self.events}"')
        text = _set_key(text, "control", f'"{self.control or ""}"')
        text = _set_key(text, "executor", f'"{self.executor}"')
        state = self.dir / "state"
        state.mkdir()
        text = _set_key(text, "state_dir", f'"{state}"')
        self.http_port: Optional[int] = free_port() if http else None
        text = _set_key(text, "listen", f'"127.0.0.1:{self.http_port}"' if http else '""')
        if token is not None:
            token_path = self.dir / "token"
            token_path.write_text(token + "\n")
            token_path.chmod(0o600)
            text = _set_key(text, "token_file", f'"{token_path}"')
        for key, value in (settings or {}).items():
            text = _set_key(text, key, value)
        text = _set_key(text, "clients", f'"{self.clients}"')
        self.curve_files: Optional[CurveFiles] = None
        if curve:
            keys = self.dir / "keys"
            keys.mkdir()
            self.curve_files = CurveFiles(keys)
            text += _curve_table(self.curve_files.daemon_key, self.curve_files.allow_list)
        self.config.write_text(text)

    def start(self, wait_task: bool = True) -> None:
        """Runs the daemon; returns once it serves. `wait_task`: once a trivial task ran
        (the default); False: once GET /healthz answers 200, for a daemon whose engine is
        not there yet (it must have `http`)."""
        binary = BIN / "planificador"
        _wait_for_binary(binary)
        check = subprocess.run(
            [str(binary), "--check-config", str(self.config)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise AssertionError(f"--check-config failed: {check.stdout}{check.stderr}")
        log = open(self.log_path, "ab")  # a restart (after kill()) keeps the first run's log
        self.process = subprocess.Popen(
            [str(binary), "--config", str(self.config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        if wait_task:
            self._wait_ready()
        else:
            self._wait_http()

    def _curve(self, kwargs: dict[str, object]) -> dict[str, object]:
        if self.curve_files is not None:
            kwargs.setdefault("curve", self.curve_files.client)
        return kwargs

    def client(self, **kwargs: object) -> planificador.Client:
        """A Client over SPEC's sockets."""
        return planificador.Client(self.intake, self.events, self.control, **self._curve(kwargs))  # type: ignore[arg-type]

    def async_client(self, **kwargs: object) -> planificador.AsyncClient:
        """An AsyncClient over SPEC's sockets."""
        return planificador.AsyncClient(self.intake, self.events, self.control, **self._curve(kwargs))  # type: ignore[arg-type]

    def endpoint_client(self, **kwargs: object) -> planificador.Client:
        """A Client over the client endpoint (server.clients)."""
        return planificador.Client(endpoint=self.clients, **self._curve(kwargs))  # type: ignore[arg-type]

    def async_endpoint_client(self, **kwargs: object) -> planificador.AsyncClient:
        """An AsyncClient over the client endpoint (server.clients)."""
        return planificador.AsyncClient(endpoint=self.clients, **self._curve(kwargs))  # type: ignore[arg-type]

    def _wait_ready(self) -> None:
        """Ready is answering a trivial task; warm containers may take a while at first."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer"
        with self.client(connect_timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"the daemon exited {self.process.returncode}:\n{self.log_tail()}")
                try:
                    result = client.run("bash", "echo ok", report=False, timeout=30)
                except (planificador.Unreachable, TimeoutError) as error:
                    last = str(error)
                    continue
                if result.exit_code == 0 and result.stdout == b"ok\n":
                    return
                last = f"exit {result.exit_code}: {result.stderr!r}"
                time.sleep(1)
        raise AssertionError(f"the daemon did not become ready: {last}\n{self.log_tail()}")

    def _wait_http(self) -> None:
        """Ready is GET /healthz answering 200: the process serves HTTP."""
        assert self.http_port is not None, "wait_task=False needs http=True"
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"the daemon exited {self.process.returncode}:\n{self.log_tail()}")
            connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=2)
            try:
                connection.request("GET", "/healthz")
                answer = connection.getresponse()
                answer.read()
                if answer.status == 200:
                    return
                last = f"/healthz answered {answer.status}"
            except OSError as error:
                last = str(error)
            finally:
                connection.close()
            time.sleep(0.2)
        raise AssertionError(f"the daemon did not serve HTTP: {last}\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL, as a crash: its containers stay until a start() with the same config
        sweeps them (the instance is named after state_dir and intake)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> int:
        """SIGTERM and the exit status (the test asserts it is 0)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def start_daemon(name: str, control: bool = False, **options: object) -> Daemon:
    """A started Daemon (see Daemon for the options); nothing is left behind on failure."""
    daemon = Daemon(name, control, **options)  # type: ignore[arg-type]
    try:
        daemon.start()
    except BaseException:
        # The error already quotes the log's tail; nothing of this daemon may stay behind.
        if daemon.process is not None:
            daemon.stop()
        daemon.cleanup()
        raise
    return daemon


def stop_daemon(daemon: Daemon) -> None:
    code = daemon.stop()
    if code != 0:
        tail = daemon.log_tail()
        daemon.cleanup()
        raise AssertionError(f"the daemon exited {code} on SIGTERM, not 0:\n{tail}")
    daemon.cleanup()
