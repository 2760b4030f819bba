"""AsyncClient against a real daemon that has a control socket (CANCEL goes there)."""

from __future__ import annotations

import asyncio
import time
import unittest
from typing import Optional

import _daemon
import planificador

DAEMON: Optional[_daemon.Daemon] = None
TASK_TIMEOUT_S = 60.0

STREAMING = r"""
import sys, time
for i in range(1, 6):
    print(i, flush=True)
    time.sleep(0.2)
print("bye", file=sys.stderr)
"""


def setUpModule() -> None:
    global DAEMON
    DAEMON = _daemon.start_daemon("async", control=True)


def tearDownModule() -> None:
    if DAEMON is not None:
        _daemon.stop_daemon(DAEMON)  # asserts the SIGTERM exit status is 0


class AsyncClientTests(unittest.IsolatedAsyncioTestCase):
    # One client per test, never two at once: the daemon's events PUSH would spread one
    # client's events over both.
    async def asyncSetUp(self) -> None:
        assert DAEMON is not None
        self.client = DAEMON.async_client()

    async def asyncTearDown(self) -> None:
        await self.client.close()

    async def test_hello_and_report(self) -> None:
        result = await self.client.run("python", "print('hello, world')", timeout=TASK_TIMEOUT_S)
        self.assertEqual((result.exit_code, result.stdout), (0, b"hello, world\n"))
        assert result.report is not None
        self.assertEqual(result.report["status"], "exited")
        bash = await self.client.run("bash", "cat", stdin=b"\x00bytes", timeout=TASK_TIMEOUT_S)
        self.assertEqual(bash.stdout, b"\x00bytes")

    async def test_runners(self) -> None:
        runners = await self.client.runners(timeout=TASK_TIMEOUT_S)
        self.assertEqual([r["image"].split(":")[0] for r in runners][0], "planificador/python")
        self.assertEqual(len(runners), 5)

    async def test_streaming(self) -> None:
        task = await self.client.submit("python", STREAMING)
        arrivals = []
        async for stream, chunk in task:
            arrivals.append((stream, chunk, task.done))
        result = await task.wait(1)
        self.assertEqual(result.stdout, b"1\n2\n3\n4\n5\n")
        self.assertEqual(result.stderr, b"bye\n")
        stdout_chunks = [chunk for stream, chunk, _ in arrivals if stream == "stdout"]
        self.assertGreaterEqual(len(stdout_chunks), 4, arrivals)
        self.assertFalse(arrivals[0][2])  # arrived while the task still ran
        self.assertEqual(arrivals[-1][:2], ("stderr", b"bye\n"))

    async def test_100_concurrent(self) -> None:
        async def one(i: int) -> planificador.Result:
            return await self.client.run("python", f"print('task', {i})", timeout=180)

        results = await asyncio.gather(*(one(i) for i in range(100)))
        for i, result in enumerate(results):
            self.assertEqual(result.exit_code, 0, result.stderr)
            self.assertEqual(result.stdout, f"task {i}\n".encode())
        self.assertEqual(len({r.task_id for r in results}), 100)
        self.assertEqual(self.client.counters.unknown_events, 0)

    async def test_cancel_through_control(self) -> None:
        task = await self.client.submit("bash", "echo started; sleep 30")
        async for stream, chunk in task.chunks(timeout=TASK_TIMEOUT_S):
            self.assertEqual((stream, chunk), ("stdout", b"started\n"))
            break
        started = time.monotonic()
        await task.cancel()
        result = await task.wait(10)
        self.assertEqual(result.exit_code, 130)
        self.assertLess(time.monotonic() - started, 5)

    async def test_wait_timeout(self) -> None:
        task = await self.client.submit("bash", "sleep 1; echo done")
        started = time.monotonic()
        with self.assertRaises(TimeoutError):
            await task.wait(0.2)
        self.assertLess(time.monotonic() - started, 0.5)
        self.assertEqual((await task.wait(TASK_TIMEOUT_S)).stdout, b"done\n")


class SyncClientWithControl(unittest.TestCase):
    def test_cancel_through_control(self) -> None:
        assert DAEMON is not None
        with DAEMON.client() as client:
            task = client.submit("bash", "echo started; sleep 30")
            self.assertEqual(next(iter(task)), ("stdout", b"started\n"))
            task.cancel()
            self.assertEqual(task.wait(10).exit_code, 130)


if __name__ == "__main__":
    unittest.main()
