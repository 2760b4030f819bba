"""The client endpoint (server.clients, docs/protocol.md) against a real daemon: every
client gets its own tasks' events and nothing else, CANCEL reaches only its own tasks, a
client that does not read holds up only its own tasks."""

from __future__ import annotations

import asyncio
import time
import unittest
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import zmq

import _daemon
import planificador
from planificador import protocol

DAEMON: Optional[_daemon.Daemon] = None
TASK_TIMEOUT_S = 60.0
BIG_BYTES = 40 << 20  # more than the daemon (256 + 64 frames of 64 KiB) and TCP buffer
LINE = 10  # bytes per line of the big output: nine digits and a newline

# Prints lines "000000000\n", "000000001\n", … until `total` bytes, in 64 KiB writes.
BIG_OUTPUT = r"""
import sys
total = int(sys.argv[1])
lines = total // 10
out = sys.stdout.buffer
step = 6554
for start in range(0, lines, step):
    out.write("".join("%09d\n" % i for i in range(start, min(lines, start + step))).encode())
out.flush()
"""


def big_expected(total: int) -> bytes:
    return "".join("%09d\n" % i for i in range(total // LINE)).encode()


def setUpModule() -> None:
    global DAEMON
    # The big output needs a larger output limit than the shipped 1 MiB.
    DAEMON = _daemon.start_daemon("endpoint", settings={"output_kb": str(2 * BIG_BYTES >> 10)})


def tearDownModule() -> None:
    if DAEMON is not None:
        _daemon.stop_daemon(DAEMON)  # asserts the SIGTERM exit status is 0


def raw_dealer(ctx: zmq.Context, rcvhwm: int = 1000) -> zmq.Socket:
    """A bare DEALER on the client endpoint, connected (its handshake done)."""
    assert DAEMON is not None and DAEMON.clients is not None
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.RCVHWM, rcvhwm)
    dealer.setsockopt(zmq.LINGER, 0)
    monitor = dealer.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    dealer.connect(DAEMON.clients)
    if not monitor.poll(10000):
        raise AssertionError(f"no handshake with {DAEMON.clients}")
    dealer.disable_monitor()
    monitor.close(0)
    return dealer


class Endpoint(unittest.TestCase):
    client: planificador.Client

    @classmethod
    def setUpClass(cls) -> None:
        assert DAEMON is not None
        cls.client = DAEMON.endpoint_client()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.client.close()

    def test_hello_report_rejection_runners(self) -> None:
        assert DAEMON is not None
        result = self.client.run("python", "print('hello, world')", timeout=TASK_TIMEOUT_S)
        self.assertEqual((result.exit_code, result.stdout), (0, b"hello, world\n"))
        assert result.report is not None
        self.assertEqual((result.report["status"], result.report["executor"]), ("exited", DAEMON.executor))
        plain = self.client.run("bash", "echo hi; exit 4", report=False, timeout=TASK_TIMEOUT_S)
        self.assertEqual((plain.exit_code, plain.stdout, plain.report), (4, b"hi\n", None))
        unknown = self.client.run("no-such-image", "x", timeout=TASK_TIMEOUT_S)
        self.assertEqual(unknown.exit_code, 125)
        self.assertTrue(unknown.stderr.startswith(b"planificador: "), unknown.stderr)
        runners = self.client.runners(timeout=TASK_TIMEOUT_S)
        self.assertEqual([r["match"][0] for r in runners], ["python", "c", "cpp", "bash", "node"])
        self.assertTrue(self.client.connected)

    def test_streaming_and_timeouts(self) -> None:
        task = self.client.submit("bash", "for i in 1 2 3; do echo $i; sleep 0.2; done")
        arrivals = [(chunk, task.done) for _, chunk in task.chunks(timeout=TASK_TIMEOUT_S)]
        self.assertEqual(b"".join(chunk for chunk, _ in arrivals), b"1\n2\n3\n")
        self.assertFalse(arrivals[0][1])  # streamed while the task ran
        slow = self.client.submit("bash", "sleep 1; echo done")
        with self.assertRaises(TimeoutError):
            slow.wait(0.2)
        self.assertEqual(slow.wait(TASK_TIMEOUT_S).stdout, b"done\n")
        started = time.monotonic()
        with self.assertRaises(TimeoutError):
            self.client.run("bash", "sleep 30", timeout=0.5)
        self.assertLess(time.monotonic() - started, 1.5)

    def test_100_concurrent_threads(self) -> None:
        def one(i: int) -> planificador.Result:
            return self.client.run("bash", 'echo "out-$1"; echo "err-$1" >&2; exit $(($1 % 7))',
                                   args=[str(i)], timeout=180)

        with ThreadPoolExecutor(max_workers=100) as pool:
            results = list(pool.map(one, range(100)))
        for i, result in enumerate(results):
            self.assertEqual(result.exit_code, i % 7, result.stderr)
            self.assertEqual((result.stdout, result.stderr), (f"out-{i}\n".encode(), f"err-{i}\n".encode()))
        self.assertEqual(len({r.task_id for r in results}), 100)
        self.assertEqual(self.client.counters.unknown_events, 0)
        self.assertEqual(self.client.counters.malformed_events, 0)

    def test_cancel_own_task(self) -> None:
        task = self.client.submit("bash", "echo started; sleep 30")
        self.assertEqual(next(iter(task.chunks(timeout=TASK_TIMEOUT_S))), ("stdout", b"started\n"))
        started = time.monotonic()
        task.cancel()
        result = task.wait(10)
        self.assertEqual((result.exit_code, result.diagnostic), (130, "planificador: cancelled"))
        self.assertLess(time.monotonic() - started, 5)


class ManyClients(unittest.TestCase):
    """What SPEC's events PUSH could not do: clients side by side on one daemon."""

    def test_two_clients_20_tasks_each(self) -> None:
        assert DAEMON is not None
        with DAEMON.endpoint_client() as first, DAEMON.endpoint_client() as second:
            def one(job: tuple[planificador.Client, str, int]) -> tuple[str, int, planificador.Result]:
                client, name, i = job
                return name, i, client.run("bash", 'echo "$1-$2"; echo "e-$1-$2" >&2',
                                           args=[name, str(i)], timeout=180)

            jobs = [(client, name, i) for i in range(20)
                    for client, name in ((first, "first"), (second, "second"))]
            with ThreadPoolExecutor(max_workers=40) as pool:
                outcomes = list(pool.map(one, jobs))
            for name, i, result in outcomes:
                self.assertEqual(result.exit_code, 0, result.stderr)
                self.assertEqual(result.stdout, f"{name}-{i}\n".encode())
                self.assertEqual(result.stderr, f"e-{name}-{i}\n".encode())
            for client in (first, second):
                self.assertEqual(client.counters.unknown_events, 0)
                self.assertEqual(client.counters.malformed_events, 0)

    def test_silent_reader_receives_nothing(self) -> None:
        assert DAEMON is not None
        ctx = zmq.Context()
        try:
            bystander = raw_dealer(ctx)
            with DAEMON.endpoint_client() as client:
                task = client.submit("bash", "echo mine")
                results = [client.run("python", f"print({i})", timeout=TASK_TIMEOUT_S) for i in range(5)]
                self.assertEqual(task.wait(TASK_TIMEOUT_S).stdout, b"mine\n")
                self.assertEqual([r.stdout for r in results], [f"{i}\n".encode() for i in range(5)])
            self.assertEqual(bystander.poll(500), 0, "a connection that submitted nothing got a frame")
        finally:
            ctx.destroy(linger=0)

    def test_cancel_of_another_connections_task_is_ignored(self) -> None:
        assert DAEMON is not None
        with DAEMON.endpoint_client() as owner, DAEMON.endpoint_client() as other:
            task = owner.submit("bash", "echo started; sleep 1.5; echo done")
            self.assertEqual(next(iter(task.chunks(timeout=TASK_TIMEOUT_S))), ("stdout", b"started\n"))
            other.cancel(task.id)
            result = task.wait(TASK_TIMEOUT_S)
            self.assertEqual((result.exit_code, result.stdout), (0, b"started\ndone\n"))
            self.assertEqual(other.counters.unknown_events, 0)

    def test_100_concurrent_asyncio(self) -> None:
        assert DAEMON is not None

        async def scenario() -> list[planificador.Result]:
            async with DAEMON.async_endpoint_client() as client:
                results = await asyncio.gather(
                    *(client.run("python", f"import sys; print('task', {i}); sys.exit({i} % 5)", timeout=180)
                      for i in range(100))
                )
                self.assertEqual(client.counters.unknown_events, 0)
                task = await client.submit("bash", "echo started; sleep 30")
                async for _ in task.chunks(timeout=TASK_TIMEOUT_S):
                    break
                await task.cancel()
                self.assertEqual((await task.wait(10)).exit_code, 130)
                runners = await client.runners(timeout=TASK_TIMEOUT_S)
                self.assertEqual(len(runners), 5)
                return list(results)

        results = asyncio.run(scenario())
        for i, result in enumerate(results):
            self.assertEqual((result.exit_code, result.stdout), (i % 5, f"task {i}\n".encode()))
        self.assertEqual(len({r.task_id for r in results}), 100)


class Backpressure(unittest.TestCase):
    def test_reader_that_pauses_gets_every_byte_and_holds_up_no_one_else(self) -> None:
        """A bare DEALER with a tiny receive queue submits a task that prints 40 MiB and
        reads nothing for 3 s; meanwhile another client's small task finishes promptly.
        Then every byte arrives in order and the task exits 0."""
        assert DAEMON is not None
        ctx = zmq.Context()
        try:
            slow = raw_dealer(ctx, rcvhwm=2)
            task_id = protocol.new_task_id().encode()
            slow.send(protocol.encode_submit(task_id, "python", BIG_OUTPUT, {"args": [str(BIG_BYTES)]}))
            time.sleep(0.5)  # the program is writing, and the queues towards `slow` fill
            with DAEMON.endpoint_client() as other:
                started = time.monotonic()
                quick = other.run("bash", "echo quick", timeout=TASK_TIMEOUT_S)
                quick_s = time.monotonic() - started
            self.assertEqual(quick.stdout, b"quick\n")
            self.assertLess(quick_s, 5.0, "a client that does not read held up another's task")
            time.sleep(max(0.0, 3.0 - quick_s))
            received, exit_code, report = self.read_task(slow, task_id)
        finally:
            ctx.destroy(linger=0)
        self.assertEqual(exit_code, 0, report)
        self.assertEqual(len(received), BIG_BYTES)
        expected = big_expected(BIG_BYTES)
        if received != expected:
            first = next(i for i, (a, b) in enumerate(zip(received, expected)) if a != b)
            self.fail(f"the output differs from byte {first} on: {received[first:first + 40]!r}")
        self.assertEqual((report or {}).get("output_bytes"), BIG_BYTES)

    @staticmethod
    def read_task(dealer: zmq.Socket, task_id: bytes) -> tuple[bytes, int, Optional[dict]]:
        chunks: list[bytes] = []
        report = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not dealer.poll(int((deadline - time.monotonic()) * 1000)):
                break
            event = protocol.decode_event(dealer.recv())
            assert event.task_id == task_id, "an event of another task came to this connection"
            if event.kind == "stdout":
                chunks.append(event.data)
            elif event.kind == "report":
                report = event.report
            elif event.kind == "exited":
                return b"".join(chunks), event.exit_code, report
            else:
                raise AssertionError(f"unexpected {event.kind}: {event.data[:200]!r}")
        raise AssertionError(f"no EXITED within 120 s ({sum(map(len, chunks))} bytes came)")

    def test_library_client_that_iterates_late_sees_everything_in_order(self) -> None:
        assert DAEMON is not None
        total = 8 << 20
        with DAEMON.endpoint_client() as client:
            task = client.submit("python", BIG_OUTPUT, args=[str(total)])
            time.sleep(2)
            received = b"".join(chunk for stream, chunk in task.chunks(timeout=120) if stream == "stdout")
            self.assertEqual(task.wait(1).exit_code, 0, task.wait(1).stderr[-300:])
        self.assertEqual(received, big_expected(total))


if __name__ == "__main__":
    unittest.main()
