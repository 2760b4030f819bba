"""A daemon killed (SIGKILL) under running tasks: every pending wait() raises
ConnectionLost within seconds, over the client endpoint and over SPEC's sockets alike. A
daemon stopped by SIGTERM delivers its running tasks' last events before it goes."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import unittest
from typing import Optional

import _daemon
import planificador

DAEMON: Optional[_daemon.Daemon] = None
TASK_TIMEOUT_S = 60.0
NOTICE_S = 5.0  # how soon after the kill every waiter must know


def setUpModule() -> None:
    global DAEMON
    # Three tasks sleep at once here; with the shipped 2 workers one would wait its turn.
    DAEMON = _daemon.start_daemon("lost", settings={"workers": "4"})


def tearDownModule() -> None:
    if DAEMON is not None:
        # The same config again: its start removes what the killed process left behind.
        if DAEMON.process is not None and DAEMON.process.poll() is not None:
            DAEMON.start()
        _daemon.stop_daemon(DAEMON)


def ensure_running() -> _daemon.Daemon:
    """The module's daemon, started again (same config) if a test ended it."""
    assert DAEMON is not None and DAEMON.process is not None
    if DAEMON.process.poll() is not None:
        DAEMON.start()
    return DAEMON


class AsyncWaiter(threading.Thread):
    """An AsyncClient in its own loop: submits, reports the task running, then waits."""

    def __init__(self, daemon: _daemon.Daemon) -> None:
        super().__init__(daemon=True)
        self.daemon_under_test = daemon
        self.running = threading.Event()
        self.error: Optional[BaseException] = None
        self.failed_at: Optional[float] = None

    def run(self) -> None:
        asyncio.run(self.scenario())

    async def scenario(self) -> None:
        async with self.daemon_under_test.async_endpoint_client() as client:
            task = await client.submit("bash", "echo started; sleep 60")
            async for _ in task.chunks(timeout=TASK_TIMEOUT_S):
                break
            self.running.set()
            try:
                await task.wait()
            except BaseException as error:
                self.failed_at = time.monotonic()
                self.error = error


class DaemonKilled(unittest.TestCase):
    def test_pending_tasks_fail_with_connection_lost(self) -> None:
        ensure_running()
        assert DAEMON is not None and DAEMON.clients is not None
        waiter = AsyncWaiter(DAEMON)
        waiter.start()
        with DAEMON.endpoint_client(connect_timeout=2.0) as own, DAEMON.client() as spec:
            tasks = {"clients": own.submit("bash", "echo started; sleep 60"),
                     "events": spec.submit("bash", "echo started; sleep 60")}
            for task in tasks.values():
                self.assertEqual(next(iter(task.chunks(timeout=TASK_TIMEOUT_S))), ("stdout", b"started\n"))
            self.assertTrue(waiter.running.wait(TASK_TIMEOUT_S), "the asyncio task did not start")
            killed = time.monotonic()
            DAEMON.kill()
            for role, task in tasks.items():
                with self.subTest(role=role):
                    with self.assertRaises(planificador.ConnectionLost) as caught:
                        task.wait()  # no timeout: it must not hang
                    self.assertLess(time.monotonic() - killed, NOTICE_S)
                    self.assertEqual(caught.exception.role, role)
                    self.assertIn("went away", str(caught.exception))
                    self.assertIn("outcome is unknown", str(caught.exception))
            self.assertIn(DAEMON.clients, str(tasks["clients"]._record.error))
            # A new task meets the absent daemon as Unreachable.
            with self.assertRaises(planificador.Unreachable):
                own.run("bash", "true")
        waiter.join(NOTICE_S + 5)
        self.assertIsInstance(waiter.error, planificador.ConnectionLost)
        assert waiter.failed_at is not None
        self.assertLess(waiter.failed_at - killed, NOTICE_S)



class DaemonStopped(unittest.TestCase):
    def test_sigterm_delivers_the_last_events_before_the_drop(self) -> None:
        """The EXITED a draining daemon sends just before it exits is not lost with the
        connection: the task ends normally, it does not fail with ConnectionLost."""
        daemon = ensure_running()
        assert daemon.process is not None
        with daemon.endpoint_client() as client:
            task = client.submit("bash", "echo started; sleep 1; echo done")
            self.assertEqual(next(iter(task.chunks(timeout=TASK_TIMEOUT_S))), ("stdout", b"started\n"))
            daemon.process.send_signal(signal.SIGTERM)
            result = task.wait(30)
            self.assertEqual((result.exit_code, result.stdout), (0, b"started\ndone\n"))
            self.assertEqual(daemon.process.wait(30), 0)


if __name__ == "__main__":
    unittest.main()
