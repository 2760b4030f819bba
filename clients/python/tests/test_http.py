"""The daemon's HTTP/JSON API (docs/http.md) against real daemons, with only the standard
library's http.client as the HTTP client and prometheus_client's parser for /metrics.

Every distinct configuration is one daemon, all started at once in setUpModule:
  default   the shipped config with HTTP on: runs, streams, cancels, errors, runners, metrics
  token     http.token_file set: 401 without the bearer token, /healthz and /readyz open
  limits    server.max_code_bytes = 65536, http.max_body_bytes = 200000: 413
  busy      workers = 1, backlog = 1: 503 with Retry-After when the backlog is full
  engine    docker.socket names a unix socket where nothing listens yet; a proxy the test
            starts there later brings the engine "up": /readyz goes 503 -> 200
StartRefusals also runs the binary on two configs it must refuse (beyond loopback without
a token, an empty token file); those never get as far as a daemon.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import tomllib
import unittest
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Optional

from prometheus_client.parser import text_string_to_metric_families

import _daemon

TASK_TIMEOUT_S = 60.0
TOKEN = "s3cret-" + uuid.uuid4().hex
MAX_CODE_BYTES = 65536
MAX_BODY_BYTES = 200000
ENGINE_SOCKET = "/var/run/docker.sock"

DAEMONS: dict[str, _daemon.Daemon] = {}
ENGINE_DIR: Optional[Path] = None  # holds engine.sock, where the engine daemon looks
PROXY: Optional["UnixProxy"] = None  # listens at engine.sock once the test starts it

HELLO = {
    "python": ("print('hello, world')", "hello, world\n"),
    "c": ('#include <stdio.h>\nint main(void) { puts("hello, world"); return 0; }\n',
          "hello, world\n"),
    "cpp": ('#include <iostream>\nint main() { std::cout << "hello, world" << std::endl; }\n',
            "hello, world\n"),
    "bash": ("echo 'hello, world'", "hello, world\n"),
    "node": ("console.log('hello, world')", "hello, world\n"),
}


# ----- the daemons -----

def engine_path() -> Path:
    assert ENGINE_DIR is not None
    return ENGINE_DIR / "engine.sock"


def _configs() -> dict[str, tuple[dict[str, Any], bool]]:
    """name -> (Daemon keyword arguments, wait for a task at start). The daemons that only
    serve a few bash tasks keep one warm container per runner (server.pool = 1), so that
    five daemons warming up at once stay within the machine."""
    return {
        "default": ({"http": True}, True),
        "token": ({"http": True, "token": TOKEN, "settings": {"pool": "1"}}, True),
        "limits": ({"http": True, "settings": {"max_code_bytes": str(MAX_CODE_BYTES),
                                               "max_body_bytes": str(MAX_BODY_BYTES),
                                               "pool": "1"}}, True),
        "busy": ({"http": True, "settings": {"workers": "1", "backlog": "1"}}, True),
        # The engine is not there: no task can run, so ready is /healthz answering.
        "engine": ({"http": True, "settings": {"socket": f'"{engine_path()}"', "pool": "1"}}, False),
    }


def setUpModule() -> None:
    global ENGINE_DIR
    ENGINE_DIR = Path(tempfile.mkdtemp(prefix="plan-py-engine-"))  # nothing listens there yet
    made: dict[str, _daemon.Daemon] = {}
    waits: dict[str, bool] = {}
    for name, (kwargs, wait_task) in _configs().items():
        made[name] = _daemon.Daemon(f"http-{name}", **kwargs)
        waits[name] = wait_task
    # Started in parallel: most of a start is warm containers being made.
    with ThreadPoolExecutor(max_workers=len(made)) as pool:
        futures = {name: pool.submit(daemon.start, waits[name]) for name, daemon in made.items()}
        errors = []
        for name, future in futures.items():
            try:
                future.result()
            except BaseException as error:  # noqa: B902 - reported below with the others
                errors.append(f"{name}: {error}")
    if errors:
        for daemon in made.values():
            if daemon.process is not None:
                daemon.stop()
            daemon.cleanup()
        shutil.rmtree(ENGINE_DIR, ignore_errors=True)
        raise AssertionError("a daemon did not start:\n" + "\n".join(errors))
    DAEMONS.update(made)


def tearDownModule() -> None:
    # The engine daemon stops while the proxy still runs, so that it can remove its
    # containers; the proxy goes last.
    failures = []
    for name, daemon in DAEMONS.items():
        code = daemon.stop()
        if code != 0:
            failures.append(f"{name} exited {code} on SIGTERM, not 0:\n{daemon.log_tail()}")
        daemon.cleanup()
    if PROXY is not None:
        PROXY.stop()
    if ENGINE_DIR is not None:
        shutil.rmtree(ENGINE_DIR, ignore_errors=True)
    if failures:
        raise AssertionError("\n".join(failures))


# ----- HTTP helpers -----

class Answer:
    """One HTTP answer, read whole."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<{self.status} {self.body[:300]!r}>"


def connect(daemon: _daemon.Daemon, timeout: float = TASK_TIMEOUT_S) -> http.client.HTTPConnection:
    assert daemon.http_port is not None
    return http.client.HTTPConnection("127.0.0.1", daemon.http_port, timeout=timeout)


def request(daemon: _daemon.Daemon, method: str, path: str, body: Optional[bytes] = None,
            headers: Optional[dict[str, str]] = None, token: Optional[str] = None,
            timeout: float = TASK_TIMEOUT_S) -> Answer:
    """One request on a connection of its own."""
    all_headers = dict(headers or {})
    if body is not None:
        all_headers.setdefault("Content-Type", "application/json")
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    connection = connect(daemon, timeout)
    try:
        connection.request(method, path, body=body, headers=all_headers)
        return Answer(connection.getresponse())
    finally:
        connection.close()


def post_run(daemon: _daemon.Daemon, task: dict[str, Any], **kwargs: Any) -> Answer:
    return request(daemon, "POST", "/v1/run", json.dumps(task).encode(), **kwargs)


def get(daemon: _daemon.Daemon, path: str, **kwargs: Any) -> Answer:
    return request(daemon, "GET", path, **kwargs)


def delete_task(daemon: _daemon.Daemon, task_id: str, **kwargs: Any) -> Answer:
    return request(daemon, "DELETE", f"/v1/tasks/{task_id}", **kwargs)


def metrics(daemon: _daemon.Daemon, token: Optional[str] = None) -> "Metrics":
    answer = get(daemon, "/metrics", token=token)
    if answer.status != 200:
        raise AssertionError(f"/metrics answered {answer!r}")
    return Metrics(answer.body.decode("utf-8"))


class Metrics:
    """A /metrics scrape as prometheus_client parses it."""

    def __init__(self, text: str) -> None:
        self.types: dict[str, str] = {}
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def has(self, name: str, **labels: str) -> bool:
        return (name, frozenset(labels.items())) in self.samples

    def labels_of(self, name: str) -> list[dict[str, str]]:
        return [dict(labels) for sample, labels in self.samples if sample == name]

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 for a labelled counter child that has not appeared yet."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)


def poll(condition, timeout: float, what: str, interval: float = 0.1) -> Any:
    """Calls condition() until it returns something true, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


class EventStream:
    """POST /v1/run with Accept: text/event-stream, read incrementally, event by event."""

    def __init__(self, daemon: _daemon.Daemon, task: dict[str, Any], token: Optional[str] = None) -> None:
        self.connection = connect(daemon)
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self.connection.request("POST", "/v1/run", body=json.dumps(task).encode(), headers=headers)
        # Kept before getresponse(): http.client may drop its own reference to the socket
        # when the answer says it will close, and close() must shut the socket down.
        self.sock = self.connection.sock
        self.response = self.connection.getresponse()

    def events(self) -> Iterator[tuple[str, Any, float]]:
        """(event, parsed data, time.monotonic() when its blank line was read), as the
        server writes them (the SSE framing: `field: value` lines, a blank line ends one)."""
        name, data = "message", []
        while True:
            line = self.response.readline()
            if not line:
                return
            line = line.rstrip(b"\r\n").decode("utf-8")
            if line == "":
                if data:
                    yield name, json.loads("\n".join(data)), time.monotonic()
                name, data = "message", []
            elif line.startswith(":"):
                continue  # a comment (keep-alive)
            else:
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    name = value
                elif field == "data":
                    data.append(value)

    def close(self) -> None:
        """Drops the connection at once (the client went away)."""
        try:
            if self.sock is not None:
                self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.response.close()
        self.connection.close()


class UnixProxy:
    """A unix-socket listener at `path` that forwards every connection, both ways and byte
    for byte, to `target` (the engine's socket): an engine that appears when it starts."""

    def __init__(self, path: Path, target: str) -> None:
        self.target = target
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(128)
        self.lock = threading.Lock()
        self.open: list[socket.socket] = []
        self.stopped = False
        self.thread = threading.Thread(target=self._accept, name="engine-proxy", daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # stop() closed the listener
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.target)
            except OSError:
                client.close()
                upstream.close()
                continue
            with self.lock:
                if self.stopped:
                    client.close()
                    upstream.close()
                    return
                self.open += [client, upstream]
            pair = [client, upstream]
            left = [2]  # directions still pumping; the last one closes the pair
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink, pair, left), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, pair: list[socket.socket],
              left: list[int]) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)  # pass the half-close on (hijacked streams use it)
        except OSError:
            for end in pair:
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        with self.lock:
            left[0] -= 1
            if left[0] or self.stopped:
                return  # the other direction, or stop(), closes the pair
            for end in pair:
                self.open.remove(end)
                end.close()

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            ends, self.open = self.open, []
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for end in ends:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()
        self.thread.join(5)


# ----- shared assertions -----

class HttpTestCase(unittest.TestCase):
    """Loops name their case with self.case(), not subTest(): _runner.py records a test's
    outcome from addSuccess/addFailure, which a failed subTest never reaches, so a subTest
    failure would be missing from the suite's XML counts."""

    daemon_name = "default"

    @contextlib.contextmanager
    def case(self, **what: Any) -> Iterator[None]:
        """Fails the whole test at the first failing case, saying which case it was."""
        try:
            yield
        except AssertionError as error:
            raise AssertionError(f"[{what}] {error}") from error

    @property
    def daemon(self) -> _daemon.Daemon:
        return DAEMONS[self.daemon_name]

    def assertError(self, answer: Answer, status: int) -> str:
        """The answer is `status` with the JSON body {"error": "..."}; returns the message."""
        self.assertEqual(answer.status, status, answer)
        body = answer.json()
        self.assertIsInstance(body, dict, answer)
        self.assertIsInstance(body.get("error"), str, answer)
        self.assertTrue(body["error"], answer)
        return body["error"]

    def assertRun(self, answer: Answer, exit_code: int = 0, status: str = "exited") -> dict[str, Any]:
        """A task's JSON answer: 200, the id in X-Task-Id too, the exit code in the body
        and in the REPORT; returns the body."""
        self.assertEqual(answer.status, 200, answer)
        body = answer.json()
        self.assertRegex(body["id"], r"\A[!-~]{32}\Z")
        self.assertEqual(answer.headers.get("X-Task-Id"), body["id"])
        self.assertEqual(body["exit_code"], exit_code, body)
        self.assertEqual(body["report"]["status"], status, body)
        self.assertEqual(body["report"]["exit_code"], exit_code, body)
        return body

    def assertCancelledSince(self, before: float) -> None:
        """A bash task was counted cancelled since `before` was read, and none runs now."""
        poll(lambda: metrics(self.daemon).value("planificador_tasks_total", runner="bash",
                                                status="cancelled") > before,
             20, "tasks_total{status=cancelled} to grow after the disconnect")
        poll(lambda: metrics(self.daemon).value("planificador_tasks_running") == 0, 10,
             "tasks_running back to 0")

    def run_task(self, task: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self.assertRun(post_run(self.daemon, task), **kwargs)


# ----- POST /v1/run, JSON answers -----

class RunJson(HttpTestCase):
    def test_hello_every_runner(self) -> None:
        """Each shipped runner (two compile first) answers 200 with its exact stdout."""
        def one(image: str) -> tuple[str, Answer]:
            return image, post_run(self.daemon, {"image": image, "code": HELLO[image][0]})

        with ThreadPoolExecutor(max_workers=len(HELLO)) as pool:
            answers = dict(pool.map(one, HELLO))
        for image, answer in answers.items():
            with self.case(image=image):
                body = self.assertRun(answer)
                self.assertEqual(body["stdout"], HELLO[image][1])
                self.assertEqual(body["stderr"], "")
                self.assertRegex(body["id"], r"\A[0-9a-f]{32}\Z")  # the default id
                self.assertEqual(body["report"]["executor"], self.daemon.executor)
                # docs/http.md: "The body is sent with chunked transfer encoding."
                self.assertEqual(answer.headers.get("Transfer-Encoding"), "chunked")
        self.assertEqual(len({a.json()["id"] for a in answers.values()}), len(HELLO))

    def test_client_id_and_keep_alive(self) -> None:
        """A client-chosen id is the task's id; one connection carries several requests."""
        connection = connect(self.daemon)
        try:
            task_ids = ["keep-alive-" + uuid.uuid4().hex[:21] for _ in range(3)]
            for task_id in task_ids:
                connection.request("POST", "/v1/run", body=json.dumps(
                    {"image": "bash", "code": "echo $((6 * 7))", "id": task_id}).encode(),
                    headers={"Content-Type": "application/json"})
                body = self.assertRun(Answer(connection.getresponse()))
                self.assertEqual((body["id"], body["stdout"]), (task_id, "42\n"))
            connection.request("GET", "/healthz")
            self.assertEqual(Answer(connection.getresponse()).status, 200)
        finally:
            connection.close()

    def test_options_pass_through(self) -> None:
        """stdin, stdin_base64, args, env and files reach the program as SPEC §4 says."""
        body = self.run_task({
            "image": "bash",
            "code": 'echo "$1|$2|$GREETING"; cat data/in.txt; od -An -tx1 blob.bin | tr -d " \\n"; '
                    'echo; tr a-z A-Z',
            "args": ["one", "two words"],
            "env": {"GREETING": "hola"},
            "files": [{"path": "data/in.txt", "content": "from a file\n"},
                      {"path": "blob.bin", "content": base64.b64encode(b"\x00\xfe").decode(),
                       "base64": True}],
            "stdin": "from stdin\n",
        })
        self.assertEqual(body["stdout"], "one|two words|hola\nfrom a file\n00fe\nFROM STDIN\n")
        raw = bytes(range(1, 256))
        body = self.run_task({"image": "python",
                              "code": "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read()[::-1].hex().encode())",
                              "stdin_base64": base64.b64encode(raw).decode()})
        self.assertEqual(bytes.fromhex(body["stdout"]), raw[::-1])

    def test_code_base64(self) -> None:
        """code_base64 carries code bytes that are not UTF-8 (here a \\xff in a comment)."""
        code = b"echo fine # \xff\n"
        body = self.run_task({"image": "bash", "code_base64": base64.b64encode(code).decode()})
        self.assertEqual(body["stdout"], "fine\n")

    def test_non_utf8_output_is_base64(self) -> None:
        """Output that is not UTF-8 comes back as stdout_base64 / stderr_base64, exactly."""
        body = self.run_task({"image": "bash", "code": r"printf '\xff'; printf 'a\xfe' >&2"})
        self.assertNotIn("stdout", body)
        self.assertNotIn("stderr", body)
        self.assertEqual(base64.b64decode(body["stdout_base64"]), b"\xff")
        self.assertEqual(base64.b64decode(body["stderr_base64"]), b"a\xfe")

    def test_failing_program_is_200(self) -> None:
        """A program's own failure is an outcome, not an HTTP error."""
        body = self.run_task({"image": "bash", "code": "echo out; echo err >&2; exit 3"},
                             exit_code=3)
        self.assertEqual((body["stdout"], body["stderr"]), ("out\n", "err\n"))

    def test_wall_limit(self) -> None:
        """A lowered wall limit ends the task with 124, time_limit and the diagnostic."""
        started = time.monotonic()
        body = self.run_task({"image": "bash", "code": "sleep 5", "limits": {"wall_ms": 500}},
                             exit_code=124, status="time_limit")
        self.assertLess(time.monotonic() - started, 4.5)
        self.assertEqual(body["stderr"], "planificador: time limit of 500 ms exceeded\n")


# ----- POST /v1/run, event stream -----

class RunStream(HttpTestCase):
    def test_stream_is_live_and_ordered(self) -> None:
        """Output arrives while the program runs; the events come task, out/err..., report,
        exit; a non-UTF-8 chunk comes as base64."""
        stream = EventStream(self.daemon, {"image": "bash", "code":
                                           r"echo first; printf '\xff' >&2; sleep 1.5; echo second; exit 5"})
        try:
            self.assertEqual(stream.response.status, 200)
            self.assertTrue(stream.response.headers.get("Content-Type", "").startswith("text/event-stream"),
                            stream.response.headers)
            events = list(stream.events())
        finally:
            stream.close()
        names = [name for name, _, _ in events]
        self.assertEqual(names[0], "task", names)
        self.assertEqual(names[-2:], ["report", "exit"], names)
        self.assertTrue(set(names[1:-2]) <= {"out", "err"}, names)
        self.assertEqual(names.count("task"), 1)
        self.assertRegex(events[0][1]["id"], r"\A[0-9a-f]{32}\Z")

        def joined(kind: str) -> bytes:
            chunks = []
            for name, data, _ in events:
                if name == kind:
                    chunks.append(data["text"].encode() if "text" in data else base64.b64decode(data["base64"]))
            return b"".join(chunks)

        self.assertEqual(joined("out"), b"first\nsecond\n")
        self.assertEqual(joined("err"), b"\xff")
        err = [data for name, data, _ in events if name == "err"]
        self.assertEqual(err, [{"base64": "/w=="}])
        first_out = next(at for name, _, at in events if name == "out")
        exit_at = events[-1][2]
        # Read 1.5 s before the end, not delivered at exit.
        self.assertGreaterEqual(exit_at - first_out, 1.0)
        self.assertEqual(events[-2][1]["status"], "exited")
        self.assertEqual(events[-2][1]["exit_code"], 5)
        self.assertEqual(events[-1][1], {"exit_code": 5})

    def test_disconnect_cancels(self) -> None:
        """A client that goes away mid-stream cancels its task: it ends as a cancel."""
        before = metrics(self.daemon).value("planificador_tasks_total", runner="bash", status="cancelled")
        stream = EventStream(self.daemon, {"image": "bash", "code": "echo started; sleep 30"})
        try:
            self.assertEqual(stream.response.status, 200)
            events = stream.events()
            name, data, _ = next(events)
            self.assertEqual(name, "task")
            name, data, _ = next(events)
            self.assertEqual((name, data), ("out", {"text": "started\n"}))
        finally:
            stream.close()
        self.assertCancelledSince(before)

    def test_errors_are_json_in_stream_form(self) -> None:
        """Admission comes first: a 400 is an ordinary JSON answer, event stream asked or not."""
        answer = post_run(self.daemon, {"image": "no-such-image", "code": "true"},
                          headers={"Accept": "text/event-stream"})
        self.assertError(answer, 400)


# ----- DELETE /v1/tasks/{id} -----

class Delete(HttpTestCase):
    def test_delete_running_task(self) -> None:
        """DELETE of a running task is 202; the task's own POST then gets 200 with 130."""
        task_id = "delete-test-" + uuid.uuid4().hex[:20]
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(post_run, self.daemon,
                                  {"image": "bash", "code": "echo started; sleep 30", "id": task_id})
            poll(lambda: metrics(self.daemon).value("planificador_tasks_running") >= 1, 20,
                 "the task to run")
            started = time.monotonic()
            answer = delete_task(self.daemon, task_id)
            self.assertEqual(answer.status, 202, answer)
            self.assertEqual(answer.json(), {"id": task_id})
            body = self.assertRun(pending.result(TASK_TIMEOUT_S), exit_code=130, status="cancelled")
        self.assertLess(time.monotonic() - started, 10)
        self.assertEqual(body["id"], task_id)
        self.assertTrue(body["stderr"].endswith("planificador: cancelled\n"), body)
        # Ended: neither queued nor running any more.
        self.assertError(delete_task(self.daemon, task_id), 404)

    def test_delete_zmq_task(self) -> None:
        """DELETE reaches a task that a ZeroMQ SUBMIT_EXT sent; its client gets 130."""
        with self.daemon.client() as client:
            task = client.submit("bash", "echo started; sleep 30")
            self.assertEqual(next(iter(task.chunks(timeout=TASK_TIMEOUT_S))), ("stdout", b"started\n"))
            answer = delete_task(self.daemon, task.id)
            self.assertEqual(answer.status, 202, answer)
            self.assertEqual(answer.json(), {"id": task.id})
            result = task.wait(10)
        self.assertEqual(result.exit_code, 130)
        self.assertEqual(result.report["status"], "cancelled")  # type: ignore[index]

    def test_json_disconnect_cancels(self) -> None:
        """A client that disconnects before its JSON answer cancels its task."""
        before = metrics(self.daemon).value("planificador_tasks_total", runner="bash", status="cancelled")
        connection = connect(self.daemon)
        try:
            connection.request("POST", "/v1/run", body=json.dumps({"image": "bash", "code": "sleep 30"}).encode(),
                               headers={"Content-Type": "application/json"})
            poll(lambda: metrics(self.daemon).value("planificador_tasks_running") >= 1, 20, "the task to run")
            connection.sock.shutdown(socket.SHUT_RDWR)
        finally:
            connection.close()
        self.assertCancelledSince(before)

    def test_delete_unknown(self) -> None:
        self.assertError(delete_task(self.daemon, uuid.uuid4().hex), 404)
        self.assertError(delete_task(self.daemon, uuid.uuid4().hex.encode().hex()), 404)


# ----- errors: 400, 404, 405 -----

class BadRequests(HttpTestCase):
    def post(self, body: bytes) -> Answer:
        return request(self.daemon, "POST", "/v1/run", body)

    def test_not_json(self) -> None:
        self.assertError(self.post(b"{not json"), 400)
        self.assertError(self.post(b"\xff\xfe"), 400)

    def test_not_an_object(self) -> None:
        self.assertError(self.post(b"[]"), 400)
        self.assertError(self.post(b'"bash"'), 400)

    def test_missing_image(self) -> None:
        self.assertIn("image", self.assertError(self.post(b'{"code": "true"}'), 400))

    def test_code_and_code_base64(self) -> None:
        """Exactly one of code and code_base64."""
        self.assertError(self.post(b'{"image": "bash"}'), 400)
        self.assertError(self.post(b'{"image": "bash", "code": "true", "code_base64": "dHJ1ZQ=="}'), 400)

    def test_unknown_key_named(self) -> None:
        message = self.assertError(self.post(b'{"image": "bash", "code": "true", "stdn": "x"}'), 400)
        self.assertIn("stdn", message)

    def test_wrong_types(self) -> None:
        for body in (b'{"image": 5, "code": "true"}', b'{"image": "bash", "code": "true", "args": "x"}',
                     b'{"image": "bash", "code": "true", "id": "short"}',
                     b'{"image": "bash", "code": "true", "limits": {"wall_ms": "1"}}'):
            with self.case(body=body):
                self.assertError(self.post(body), 400)

    def test_no_runner(self) -> None:
        self.assertError(self.post(b'{"image": "no-such-image", "code": "true"}'), 400)

    def test_option_messages_are_submit_ext_messages(self) -> None:
        """A refused option is 400 with SUBMIT_EXT's own message (here compared with the
        diagnostic of the same options sent over ZeroMQ to the same daemon)."""
        with self.daemon.client() as client:
            for limits in ({"wall_ms": 0}, {"wall_ms": 10**9}):
                with self.case(limits=limits):
                    over_zmq = client.run("bash", "true", limits=limits, timeout=TASK_TIMEOUT_S)
                    self.assertEqual(over_zmq.exit_code, 125)
                    expected = over_zmq.stderr.decode().removeprefix("planificador: ").rstrip("\n")
                    message = self.assertError(post_run(self.daemon, {"image": "bash", "code": "true",
                                                                      "limits": limits}), 400)
                    self.assertEqual(message, expected)
        self.assertEqual(
            self.assertError(post_run(self.daemon, {"image": "bash", "code": "true",
                                                    "limits": {"wall_ms": 0}}), 400),
            "options.limits.wall_ms: expected a positive integer")

    def test_no_such_path_and_method(self) -> None:
        self.assertError(get(self.daemon, "/v1/nothing"), 404)
        self.assertError(get(self.daemon, "/v1/run"), 405)
        self.assertError(request(self.daemon, "POST", "/metrics", b"{}"), 405)


# ----- 401 -----

class Token(HttpTestCase):
    daemon_name = "token"

    def test_no_token(self) -> None:
        task = {"image": "bash", "code": "echo hi"}
        answer = post_run(self.daemon, task)
        self.assertError(answer, 401)
        self.assertTrue(answer.headers.get("WWW-Authenticate", "").startswith("Bearer"), answer.headers)
        for path in ("/metrics", "/v1/runners"):
            with self.case(path=path):
                self.assertError(get(self.daemon, path), 401)

    def test_wrong_token(self) -> None:
        task = {"image": "bash", "code": "echo hi"}
        for token in ("wrong", TOKEN + "x", TOKEN[:-1]):
            with self.case(token=token):
                answer = post_run(self.daemon, task, token=token)
                self.assertError(answer, 401)
                self.assertTrue(answer.headers.get("WWW-Authenticate", "").startswith("Bearer"))
        answer = post_run(self.daemon, task, headers={"Authorization": f"Basic {TOKEN}"})
        self.assertError(answer, 401)

    def test_right_token(self) -> None:
        """The token file's first line without its newline is the token."""
        body = self.assertRun(post_run(self.daemon, {"image": "bash", "code": "echo hi"}, token=TOKEN))
        self.assertEqual(body["stdout"], "hi\n")
        self.assertEqual(get(self.daemon, "/metrics", token=TOKEN).status, 200)

    def test_health_needs_no_token(self) -> None:
        answer = get(self.daemon, "/healthz")
        self.assertEqual((answer.status, answer.body.strip()), (200, b"ok"))
        self.assertIn(get(self.daemon, "/readyz").status, (200, 503))


# ----- 413 -----

class Limits(HttpTestCase):
    daemon_name = "limits"

    def post_big(self, body: bytes) -> Answer:
        """Sends the whole body even if the server answers early and closes."""
        connection = connect(self.daemon)
        try:
            connection.putrequest("POST", "/v1/run")
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders()
            try:
                connection.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the answer may already be there
            return Answer(connection.getresponse())
        finally:
            connection.close()

    def test_code_at_the_bound_runs(self) -> None:
        code = "echo ok\n" + "#" * (MAX_CODE_BYTES - 9) + "\n"
        self.assertEqual(len(code), MAX_CODE_BYTES)
        body = self.assertRun(self.post_big(json.dumps({"image": "bash", "code": code}).encode()))
        self.assertEqual(body["stdout"], "ok\n")

    def test_code_over_max_code_bytes(self) -> None:
        code = "echo ok\n" + "#" * (MAX_CODE_BYTES - 8) + "\n"
        self.assertEqual(len(code), MAX_CODE_BYTES + 1)
        self.assertError(self.post_big(json.dumps({"image": "bash", "code": code}).encode()), 413)
        raw = base64.b64encode(code.encode()).decode()
        self.assertError(self.post_big(json.dumps({"image": "bash", "code_base64": raw}).encode()), 413)

    def test_body_over_max_body_bytes(self) -> None:
        body = json.dumps({"image": "bash", "code": "cat >/dev/null", "stdin": "x" * MAX_BODY_BYTES}).encode()
        self.assertGreater(len(body), MAX_BODY_BYTES)
        self.assertError(self.post_big(body), 413)
        # The daemon still serves after refusing.
        self.assertEqual(get(self.daemon, "/healthz").status, 200)


# ----- 503 -----

class Busy(HttpTestCase):
    daemon_name = "busy"

    def admitted(self) -> float:
        scrape = metrics(self.daemon)
        return scrape.value("planificador_tasks_running") + scrape.value("planificador_tasks_queued")

    def test_backlog_full(self) -> None:
        """workers = 1, backlog = 1: with one task running and one queued, a third is 503
        with Retry-After: 1 (in both answer forms); the first two are then cancelled."""
        ids = ["busy-running-" + uuid.uuid4().hex[:19], "busy-queued-" + uuid.uuid4().hex[:20]]
        with ThreadPoolExecutor(max_workers=2) as pool:
            pending = []
            for task_id in ids:
                pending.append(pool.submit(post_run, self.daemon,
                                           {"image": "bash", "code": "sleep 30", "id": task_id}))
                poll(lambda: self.admitted() >= len(pending), 20, f"{len(pending)} task(s) admitted")
            scrape = metrics(self.daemon)
            self.assertEqual((scrape.value("planificador_tasks_running"),
                              scrape.value("planificador_tasks_queued")), (1, 1))
            self.assertEqual((scrape.value("planificador_workers"),
                              scrape.value("planificador_backlog_capacity")), (1, 1))
            try:
                for headers in ({}, {"Accept": "text/event-stream"}):
                    with self.case(headers=headers):
                        answer = post_run(self.daemon, {"image": "bash", "code": "echo third"},
                                          headers=headers)
                        self.assertError(answer, 503)
                        self.assertEqual(answer.headers.get("Retry-After"), "1")
            finally:
                # The queued one by its 32 characters, the running one as 64 hex digits.
                for task_id in (ids[1], ids[0].encode().hex()):
                    self.assertEqual(delete_task(self.daemon, task_id).status, 202)
            for task_id, future in zip(ids, pending):
                body = self.assertRun(future.result(TASK_TIMEOUT_S), exit_code=130, status="cancelled")
                self.assertEqual(body["id"], task_id)


# ----- GET /v1/runners -----

class Runners(HttpTestCase):
    def test_runners(self) -> None:
        """The runners of the config, in its order, with their match, image, compile step,
        isolation, pool and maximum limits."""
        config = tomllib.loads(self.daemon.config.read_text())
        answer = get(self.daemon, "/v1/runners")
        self.assertEqual(answer.status, 200, answer)
        runners = answer.json()["runners"]
        self.assertEqual([r["match"][0] for r in runners], ["python", "c", "cpp", "bash", "node"])
        defaults = config["limits"]
        for runner, declared in zip(runners, config["runner"], strict=True):
            with self.case(runner=runner["match"][0]):
                self.assertEqual(runner["match"], declared["match"])
                self.assertIn(runner["image"], (declared["image"], declared["image"] + ":latest"))
                self.assertIs(runner["compiles"], "compile" in declared)
                self.assertEqual(runner["isolation"], declared.get("isolation", "strict"))
                server = config["server"]
                self.assertEqual(runner["pool"], declared.get("pool", server.get("pool", server["workers"])))
                limits = {**defaults, **declared.get("limits", {})}
                self.assertEqual(runner["limits"], {
                    "wall_ms": limits["wall_ms"], "cpu_ms": limits["cpu_ms"],
                    "memory_bytes": limits["memory_mb"] << 20, "pids": limits["pids"],
                    "output_bytes": limits["output_kb"] << 10})
        self.assertEqual([r["compiles"] for r in runners], [False, True, True, False, False])


# ----- GET /metrics -----

class MetricsEndpoint(HttpTestCase):
    def test_metrics(self) -> None:
        """The exposition parses; two bash tasks move the counters and the histograms by 2;
        the gauges are there, with the engine up and the backend ready."""
        answer = get(self.daemon, "/metrics")
        self.assertEqual(answer.status, 200)
        self.assertTrue(answer.headers.get("Content-Type", "").startswith("text/plain"), answer.headers)
        before = Metrics(answer.body.decode())
        for _ in range(2):
            self.run_task({"image": "bash", "code": "echo abc"})
        # The answer may leave before the counters move: wait for them (bounded), then compare.
        after = poll(lambda: (lambda m: m if m.value("planificador_tasks_total", runner="bash", status="exited")
                              - before.value("planificador_tasks_total", runner="bash", status="exited") >= 2
                              and m.value("planificador_tasks_running") == 0 else None)(metrics(self.daemon)),
                     5, "the two tasks counted")

        def grew(name: str, **labels: str) -> float:
            return after.value(name, **labels) - before.value(name, **labels)

        self.assertEqual(grew("planificador_tasks_total", runner="bash", status="exited"), 2)
        self.assertEqual(grew("planificador_task_wall_seconds_count", runner="bash"), 2)
        self.assertEqual(grew("planificador_task_queue_seconds_count", runner="bash"), 2)
        self.assertGreater(grew("planificador_task_wall_seconds_sum", runner="bash"), 0)
        self.assertGreaterEqual(grew("planificador_output_bytes_total", runner="bash"), 8)
        self.assertGreaterEqual(grew("planificador_http_requests_total", code="200"), 2)
        self.assertEqual(after.value("planificador_task_wall_seconds_bucket", runner="bash", le="+Inf"),
                         after.value("planificador_task_wall_seconds_count", runner="bash"))
        for name, kind in (("planificador_tasks", "counter"), ("planificador_task_wall_seconds", "histogram"),
                           ("planificador_task_queue_seconds", "histogram"),
                           ("planificador_tasks_running", "gauge"), ("planificador_tasks_queued", "gauge"),
                           ("planificador_backlog_capacity", "gauge"), ("planificador_workers", "gauge"),
                           ("planificador_pool_containers", "gauge"), ("planificador_engine_up", "gauge"),
                           ("planificador_backend_ready", "gauge"),
                           ("planificador_events_queue_frames", "gauge"),
                           ("planificador_containers_created", "counter"),
                           ("planificador_http_requests", "counter")):
            with self.case(metric=name):
                self.assertEqual(after.types.get(name), kind)
        for gauge in ("planificador_tasks_running", "planificador_tasks_queued"):
            self.assertTrue(after.has(gauge), gauge)
        self.assertEqual(after.value("planificador_engine_up"), 1)
        self.assertEqual(after.value("planificador_backend_ready"), 1)
        self.assertEqual(after.value("planificador_workers"), 2)
        self.assertEqual(after.value("planificador_backlog_capacity"), 1000)
        pool = [labels for labels in after.labels_of("planificador_pool_containers")
                if labels.get("runner") == "bash"]
        self.assertTrue(pool, "no planificador_pool_containers{runner=\"bash\"}")
        self.assertTrue({labels.get("state") for labels in pool} <= {"idle", "busy"}, pool)
        self.assertLessEqual(sum(after.value("planificador_pool_containers", **labels) for labels in pool), 2)

    def test_rejected_counts_under_no_runner(self) -> None:
        """A task no runner took counts under runner=""."""
        before = metrics(self.daemon).value("planificador_tasks_total", runner="", status="rejected")
        with self.daemon.client() as client:
            self.assertEqual(client.run("no-such-image", "x", timeout=TASK_TIMEOUT_S).exit_code, 125)
        poll(lambda: metrics(self.daemon).value("planificador_tasks_total", runner="",
                                                status="rejected") == before + 1,
             5, 'tasks_total{runner="",status="rejected"} + 1')


# ----- /healthz, /readyz -----

class Health(HttpTestCase):
    def test_healthz_and_log(self) -> None:
        answer = get(self.daemon, "/healthz")
        self.assertEqual((answer.status, answer.body.strip()), (200, b"ok"))
        port = self.daemon.http_port
        poll(lambda: f"http bound to 127.0.0.1:{port}" in self.daemon.log_path.read_text(errors="replace"),
             5, "the `http bound to` log line")
        # Every request is logged with its method, path, status and peer address.
        poll(lambda: any("/healthz" in line and "GET" in line and "200" in line and "127.0.0.1" in line
                         for line in self.daemon.log_path.read_text(errors="replace").splitlines()),
             5, "a log line for GET /healthz")

    def test_readyz_once_pools_are_warm(self) -> None:
        answer = poll(lambda: (lambda a: a if a.status == 200 else None)(get(self.daemon, "/readyz")),
                      90, "/readyz 200")
        self.assertEqual(answer.body.strip(), b"ready")


class EngineDownThenUp(HttpTestCase):
    daemon_name = "engine"

    def test_engine_comes_up(self) -> None:
        """No engine: alive, not ready, tasks end with 125. The engine appears (a proxy to
        the real one): ready within the daemon's once-a-second retries, tasks run."""
        global PROXY
        answer = get(self.daemon, "/healthz")
        self.assertEqual((answer.status, answer.body.strip()), (200, b"ok"))
        answer = get(self.daemon, "/readyz")
        self.assertEqual(answer.status, 503, answer)
        reason = answer.body.decode()
        self.assertIn("engine", reason)  # it says why: the engine (its form is checked last)
        scrape = metrics(self.daemon)
        self.assertEqual(scrape.value("planificador_engine_up"), 0)
        self.assertEqual(scrape.value("planificador_backend_ready"), 0)
        self.assertTrue(scrape.has("planificador_engine_up"))
        # Admitted, and ended by the executor: 200 with 125 (backend not ready).
        answer = post_run(self.daemon, {"image": "bash", "code": "echo hi"})
        self.assertEqual(answer.status, 200, answer)
        body = answer.json()
        self.assertEqual(answer.headers.get("X-Task-Id"), body["id"])
        self.assertEqual((body["exit_code"], body["report"]["exit_code"]), (125, 125), body)
        self.assertIn(body["report"]["status"], ("error", "rejected"), body)
        self.assertTrue(body["stderr"].startswith("planificador: "), body)
        self.assertNotIn("hi", body.get("stdout", ""))

        PROXY = UnixProxy(engine_path(), ENGINE_SOCKET)
        answer = poll(lambda: (lambda a: a if a.status == 200 else None)(get(self.daemon, "/readyz")),
                      60, "/readyz 200 once the engine is there", interval=0.5)
        self.assertEqual(answer.body.strip(), b"ready")
        scrape = metrics(self.daemon)
        self.assertEqual(scrape.value("planificador_engine_up"), 1)
        self.assertEqual(scrape.value("planificador_backend_ready"), 1)
        body = self.run_task({"image": "bash", "code": "echo up"})
        self.assertEqual(body["stdout"], "up\n")
        # docs/http.md: "a line that says why (`backend: …` with the reason it has not
        # started, `engine: …`, …)".
        self.assertRegex(reason, r"\A(engine: |backend: )")


class StartRefusals(unittest.TestCase):
    """Configurations the daemon must refuse to start with (no daemon of setUpModule)."""

    def assertRefused(self, daemon: _daemon.Daemon) -> str:
        """The daemon exits non-zero on its own, promptly; returns what it printed."""
        try:
            process = subprocess.Popen([str(_daemon.BIN / "planificador"), "--config", str(daemon.config)],
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            try:
                output, _ = process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGTERM)  # it started: stop it the clean way
                process.communicate(timeout=_daemon.STOP_TIMEOUT_S)
                self.fail("the daemon started")
            self.assertNotEqual(process.returncode, 0, output)
            return output.decode(errors="replace")
        finally:
            daemon.cleanup()

    def test_beyond_loopback_needs_token(self) -> None:
        daemon = _daemon.Daemon("http-open", http=True,
                                settings={"listen": f'"0.0.0.0:{_daemon.free_port()}"'})
        self.assertIn("token", self.assertRefused(daemon))

    def test_empty_token_file(self) -> None:
        self.assertRefused(_daemon.Daemon("http-empty-token", http=True, token=""))


if __name__ == "__main__":
    unittest.main()
