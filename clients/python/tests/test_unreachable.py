"""No daemon at the endpoints: a clear Unreachable within about connect_timeout."""

from __future__ import annotations

import asyncio
import time
import unittest

from _daemon import free_port
import planificador

CONNECT_TIMEOUT_S = 1.5


def endpoints() -> tuple[str, str]:
    return f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"


class Unreachable(unittest.TestCase):
    def test_sync_run(self) -> None:
        intake, events = endpoints()
        with planificador.Client(intake, events, connect_timeout=CONNECT_TIMEOUT_S) as client:
            started = time.monotonic()
            with self.assertRaises(planificador.Unreachable) as caught:
                client.run("bash", "echo ok")
            elapsed = time.monotonic() - started
        self.assertGreaterEqual(elapsed, CONNECT_TIMEOUT_S - 0.1)
        self.assertLess(elapsed, CONNECT_TIMEOUT_S + 1.5)
        self.assertIn("nothing answers at", str(caught.exception))
        self.assertIn(events, str(caught.exception))
        self.assertIsInstance(caught.exception, ConnectionError)

    def test_sync_cancel_and_control(self) -> None:
        intake, events = endpoints()
        control = f"tcp://127.0.0.1:{free_port()}"
        with planificador.Client(intake, events, control, connect_timeout=CONNECT_TIMEOUT_S) as client:
            started = time.monotonic()
            with self.assertRaises(planificador.Unreachable) as caught:
                client.cancel("0" * 32)
            self.assertLess(time.monotonic() - started, CONNECT_TIMEOUT_S + 1.5)
            self.assertIn(control, str(caught.exception))

    def test_async_run(self) -> None:
        intake, events = endpoints()

        async def scenario() -> float:
            async with planificador.AsyncClient(intake, events, connect_timeout=CONNECT_TIMEOUT_S) as client:
                started = time.monotonic()
                with self.assertRaises(planificador.Unreachable):
                    await client.run("python", "print(1)")
                return time.monotonic() - started

        elapsed = asyncio.run(scenario())
        self.assertLess(elapsed, CONNECT_TIMEOUT_S + 1.5)

    def test_only_events_listening(self) -> None:
        """A half-configured endpoint pair is named precisely: here intake is the dead one."""
        import zmq

        intake, events = endpoints()
        ctx = zmq.Context()
        try:
            listener = ctx.socket(zmq.PUSH)
            listener.bind(events)
            with planificador.Client(intake, events, connect_timeout=CONNECT_TIMEOUT_S) as client:
                with self.assertRaises(planificador.Unreachable) as caught:
                    client.submit("bash", "echo ok")
            self.assertIn(intake, str(caught.exception))
            self.assertEqual(caught.exception.role, "intake")
        finally:
            ctx.destroy(linger=0)


if __name__ == "__main__":
    unittest.main()
