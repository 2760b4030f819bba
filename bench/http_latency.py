#!/usr/bin/env python3
"""What the HTTP intake and the client endpoint cost over SPEC's sockets, in one run
against one daemon.

One daemon (the shipped config.toml with [http] on and the bash runner's isolation "fast")
runs `exec /bin/true` on the bash runner:
  latency, one task at a time, back to back, for each way in:
    zmq SUBMIT          raw PUSH/PULL sockets, SUBMIT -> EXITED
    zmq SUBMIT_EXT      raw sockets, SUBMIT_EXT {} -> REPORT, EXITED (what HTTP does inside)
    endpoint SUBMIT_EXT the same over one raw DEALER on the client endpoint (server.clients)
    Client.run()        the Python client over SPEC's sockets (SUBMIT_EXT, REPORT awaited)
    Client.run() endpoint  the Python client as it is by default, on the client endpoint
    http json           POST /v1/run on one kept-alive http.client connection
    http stream         the same with Accept: text/event-stream, read to its `exit` event
  The ways take turns in --rounds rounds, so that a drift of the machine shows in all of
  them alike; each turn starts with --warmup tasks that are not counted.
  throughput, every worker busy: N concurrent HTTP connections against ZeroMQ with N
  SUBMIT_EXTs in flight (N = --concurrency, default 2 x workers).
Then the differences the HTTP target is stated in (HTTP p50 - ZeroMQ p50 <= 1 ms).

Usage: bench/http_latency.py [--samples 200] [--warmup 10] [--rounds 5]
                             [--throughput-tasks 1000] [--concurrency N]
Needs the build (build/bin/planificador), the runner images and a running engine. Runs
by hand; it is not part of the test suite.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import statistics
import sys
import threading
import time
import uuid

# bench/latency.py (beside this file) re-runs the program under Debian's python3 when the
# first python3 on PATH lacks python3-zmq; importing it first does that for this one too.
from latency import PROGRAMS, percentile  # noqa: E402

import zmq  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "clients", "python", "tests"))  # _daemon (adds the package)

import _daemon  # noqa: E402

IMAGE = b"bash"
CODE = PROGRAMS["true"]["code"]  # b"exec /bin/true\n"
TASK = json.dumps({"image": IMAGE.decode(), "code": CODE.decode()}).encode()
TIMEOUT_S = 30.0


class Failed(RuntimeError):
    pass


def fast_bash(config_text: str) -> str:
    """The config with isolation = "fast" for the runner that matches "bash"."""
    blocks = config_text.split("[[runner]]")
    for i, block in enumerate(blocks[1:], 1):
        if re.search(r'^match\s*=\s*\["bash"', block, re.MULTILINE):
            block = re.sub(r'^isolation\s*=.*\n', "", block, flags=re.MULTILINE)
            blocks[i] = re.sub(r'^(run\s*=.*\n)', r'\1isolation = "fast"\n', block, count=1,
                               flags=re.MULTILINE)
            return "[[runner]]".join(blocks)
    raise Failed("config.toml has no bash runner")


def workers_of(config_text: str) -> int:
    return int(re.search(r"^workers\s*=\s*(\d+)", config_text, re.MULTILINE).group(1))


# ----- ways in -----

class Zmq:
    """Raw intake PUSH and events PULL sockets (the only events consumer while open), or
    with `dealer` one DEALER on the client endpoint for both."""

    def __init__(self, daemon: _daemon.Daemon, ext: bool, dealer: bool = False) -> None:
        self.ext = ext
        self.ctx = zmq.Context()
        if dealer:
            self.push = self.pull = self.ctx.socket(zmq.DEALER)
            self.push.setsockopt(zmq.LINGER, 0)
            self.push.connect(daemon.clients)
        else:
            self.push = self.ctx.socket(zmq.PUSH)
            self.push.setsockopt(zmq.LINGER, 0)
            self.push.connect(daemon.intake)
            self.pull = self.ctx.socket(zmq.PULL)
            self.pull.setsockopt(zmq.LINGER, 0)
            self.pull.connect(daemon.events)
        self.poller = zmq.Poller()
        self.poller.register(self.pull, zmq.POLLIN)

    def submit(self) -> bytes:
        task_id = uuid.uuid4().hex.encode()
        if self.ext:
            options = b"{}"
            frame = (b"\x10" + task_id + len(IMAGE).to_bytes(4, "big") + len(CODE).to_bytes(4, "big")
                     + len(options).to_bytes(4, "big") + IMAGE + CODE + options)
        else:
            frame = (b"\x00" + task_id + len(IMAGE).to_bytes(4, "big") + len(CODE).to_bytes(4, "big")
                     + IMAGE + CODE)
        self.push.send(frame)
        return task_id

    def next_exited(self, timeout: float) -> tuple[bytes, int]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.poller.poll(int(left * 1000)):
                raise Failed("no EXITED in time")
            frame = self.pull.recv()
            if frame[0] == 0x03 and len(frame) == 37:
                return frame[1:33], int.from_bytes(frame[33:37], "big", signed=True)

    def run_one(self) -> None:
        task_id = self.submit()
        while True:
            got, code = self.next_exited(TIMEOUT_S)
            if got == task_id:
                if code != 0:
                    raise Failed(f"a task exited {code}")
                return

    def close(self) -> None:
        self.push.close(0)
        self.pull.close(0)
        self.ctx.term()


class PyClient:
    def __init__(self, daemon: _daemon.Daemon, endpoint: bool = False) -> None:
        self.client = daemon.endpoint_client() if endpoint else daemon.client()

    def run_one(self) -> None:
        result = self.client.run(IMAGE.decode(), CODE, timeout=TIMEOUT_S)
        if result.exit_code != 0:
            raise Failed(f"a task exited {result.exit_code}: {result.stderr!r}")

    def close(self) -> None:
        self.client.close()


class Http:
    """One kept-alive connection (TCP_NODELAY, as ZeroMQ sets it)."""

    def __init__(self, daemon: _daemon.Daemon, stream: bool = False) -> None:
        assert daemon.http_port is not None
        self.connection = http.client.HTTPConnection("127.0.0.1", daemon.http_port, timeout=TIMEOUT_S)
        self.headers = {"Content-Type": "application/json"}
        if stream:
            self.headers["Accept"] = "text/event-stream"
        self.stream = stream

    def _connected(self) -> None:
        if self.connection.sock is None:
            self.connection.connect()
            self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def run_one(self) -> None:
        self._connected()
        self.connection.request("POST", "/v1/run", body=TASK, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise Failed(f"POST /v1/run answered {response.status}: {body[:200]!r}")
        if self.stream:
            exits = re.findall(rb"^event: exit\r?\ndata: (.*)$", body, re.MULTILINE)
            if len(exits) != 1 or json.loads(exits[0]) != {"exit_code": 0}:
                raise Failed(f"the stream did not end with exit 0: {body[-200:]!r}")
        elif json.loads(body)["exit_code"] != 0:
            raise Failed(f"a task failed: {body[:200]!r}")

    def close(self) -> None:
        self.connection.close()


WAYS = {
    "zmq SUBMIT -> EXITED": lambda d: Zmq(d, ext=False),
    "zmq SUBMIT_EXT -> EXITED": lambda d: Zmq(d, ext=True),
    "endpoint SUBMIT_EXT -> EXITED": lambda d: Zmq(d, ext=True, dealer=True),
    "Client.run()": PyClient,
    "Client.run() endpoint": lambda d: PyClient(d, endpoint=True),
    "http POST /v1/run json": Http,
    "http POST /v1/run stream": lambda d: Http(d, stream=True),
}


def latency_turn(daemon: _daemon.Daemon, make, warmup: int, samples: int) -> list[float]:
    way = make(daemon)
    try:
        for _ in range(warmup):
            way.run_one()
        values = []
        for _ in range(samples):
            start = time.perf_counter()
            way.run_one()
            values.append(time.perf_counter() - start)
        return values
    finally:
        way.close()
        time.sleep(0.2)  # let the daemon see a closed events PULL go before the next opens


def throughput_zmq(daemon: _daemon.Daemon, tasks: int, in_flight: int) -> float:
    way = Zmq(daemon, ext=True)
    try:
        for _ in range(in_flight):  # warm: every worker once
            way.run_one()
        start = time.perf_counter()
        sent = done = 0
        while sent < min(in_flight, tasks):
            way.submit()
            sent += 1
        while done < tasks:
            _, code = way.next_exited(TIMEOUT_S)
            if code != 0:
                raise Failed(f"a task exited {code}")
            done += 1
            if sent < tasks:
                way.submit()
                sent += 1
        return tasks / (time.perf_counter() - start)
    finally:
        way.close()
        time.sleep(0.2)


def throughput_http(daemon: _daemon.Daemon, tasks: int, connections: int) -> float:
    ways = [Http(daemon) for _ in range(connections)]
    lock = threading.Lock()
    left = [tasks]
    errors: list[BaseException] = []

    def loop(way: Http) -> None:
        try:
            while True:
                with lock:
                    if left[0] <= 0 or errors:
                        return
                    left[0] -= 1
                way.run_one()
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    try:
        for way in ways:
            way.run_one()  # warm, and connected
        threads = [threading.Thread(target=loop, args=(way,)) for way in ways]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        if errors:
            raise Failed(f"throughput over HTTP: {errors[0]}")
        return tasks / elapsed
    finally:
        for way in ways:
            way.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=200, help="latency samples per way in")
    parser.add_argument("--warmup", type=int, default=10, help="uncounted tasks before each turn")
    parser.add_argument("--rounds", type=int, default=5, help="turns each way in takes")
    parser.add_argument("--throughput-tasks", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=0,
                        help="connections / tasks in flight; default 2 x workers")
    args = parser.parse_args()

    daemon = _daemon.Daemon("bench-http", http=True)
    text = fast_bash(daemon.config.read_text())
    daemon.config.write_text(text)
    workers = workers_of(text)
    concurrency = args.concurrency or 2 * workers
    try:
        daemon.start()
        latencies: dict[str, list[float]] = {name: [] for name in WAYS}
        rounds = max(1, min(args.rounds, args.samples))
        for turn in range(rounds):
            count = args.samples // rounds + (1 if turn < args.samples % rounds else 0)
            for name, make in WAYS.items():
                latencies[name] += latency_turn(daemon, make, args.warmup, count)
        zmq_rate = throughput_zmq(daemon, args.throughput_tasks, concurrency)
        http_rate = throughput_http(daemon, args.throughput_tasks, concurrency)
    except BaseException:
        print(f"daemon log tail:\n{daemon.log_tail()}", file=sys.stderr)
        daemon.stop()
        daemon.cleanup()
        raise
    _daemon.stop_daemon(daemon)  # asserts the SIGTERM exit status is 0

    print(f"/bin/true on the bash runner (isolation fast), workers = {workers}, "
          f"{args.samples} samples per way in ({rounds} rounds, {args.warmup} warm-up tasks each)")
    print(f"\n{'latency, one task at a time':32} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    p50 = {}
    for name, values in latencies.items():
        p50[name] = 1000 * statistics.median(values)
        print(f"{name:32} {p50[name]:8.2f} {1000 * percentile(values, 99):8.2f} "
              f"{1000 * statistics.mean(values):8.2f}")
    print(f"\n{'throughput, every worker busy':40} {'tasks/s':>8}")
    print(f"{f'zmq SUBMIT_EXT, {concurrency} in flight':40} {zmq_rate:8.1f}")
    print(f"{f'http json, {concurrency} connections':40} {http_rate:8.1f}")
    def ms(value: float) -> str:
        return f"{round(value, 2) + 0.0:6.2f}"  # + 0.0: never "-0.00"

    print("\nratios")
    http_json = p50["http POST /v1/run json"]
    print(f"http json p50 - zmq SUBMIT_EXT p50 = {ms(http_json - p50['zmq SUBMIT_EXT -> EXITED'])} ms "
          "(target <= 1 ms)")
    print(f"http json p50 - zmq SUBMIT p50     = {ms(http_json - p50['zmq SUBMIT -> EXITED'])} ms")
    print(f"http json p50 - Client.run() p50   = {ms(http_json - p50['Client.run()'])} ms")
    print(f"http stream p50 - http json p50    = {ms(p50['http POST /v1/run stream'] - http_json)} ms")
    endpoint = p50["endpoint SUBMIT_EXT -> EXITED"]
    print(f"endpoint p50 - zmq SUBMIT_EXT p50  = {ms(endpoint - p50['zmq SUBMIT_EXT -> EXITED'])} ms")
    print(f"Client.run() endpoint - SPEC p50   = {ms(p50['Client.run() endpoint'] - p50['Client.run()'])} ms")
    print(f"http / zmq throughput              = {http_rate / zmq_rate:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
