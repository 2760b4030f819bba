"""A daemon with a [curve] table (keys from planctl keygen): an allowed key runs tasks on
every socket; an unknown key and a plain client are refused, promptly, as Unreachable."""

from __future__ import annotations

import asyncio
import time
import unittest
from typing import Optional

import _daemon
import planificador

DAEMON: Optional[_daemon.Daemon] = None
TASK_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 4.0


def setUpModule() -> None:
    global DAEMON
    DAEMON = _daemon.start_daemon("curve", curve=True)  # readiness: SPEC sockets with CURVE


def tearDownModule() -> None:
    if DAEMON is not None:
        _daemon.stop_daemon(DAEMON)


class Curve(unittest.TestCase):
    def test_allowed_key_runs_tasks(self) -> None:
        assert DAEMON is not None and DAEMON.curve_files is not None
        keys = planificador.CurveKeys.from_files(DAEMON.curve_files.daemon_pub,
                                                 DAEMON.curve_files.daemon_pub.parent / "client.key")
        with DAEMON.endpoint_client(curve=keys) as client:
            result = client.run("bash", "echo secret", timeout=TASK_TIMEOUT_S)
            self.assertEqual((result.exit_code, result.stdout), (0, b"secret\n"))
            self.assertEqual(len(client.runners(timeout=TASK_TIMEOUT_S)), 5)
        with DAEMON.client() as spec:
            self.assertEqual(spec.run("python", "print(2)", timeout=TASK_TIMEOUT_S).stdout, b"2\n")

        async def scenario() -> bytes:
            async with DAEMON.async_endpoint_client() as client:
                return (await client.run("bash", "echo aio", timeout=TASK_TIMEOUT_S)).stdout

        self.assertEqual(asyncio.run(scenario()), b"aio\n")

    def assert_refused(self, client: planificador.Client, why: str) -> None:
        started = time.monotonic()
        with self.assertRaises(planificador.Unreachable) as caught:
            client.run("bash", "echo nope", timeout=TASK_TIMEOUT_S)
        self.assertLessEqual(time.monotonic() - started, CONNECT_TIMEOUT_S + 1.0)
        self.assertIn(why, str(caught.exception))
        self.assertIsInstance(caught.exception, ConnectionError)

    def test_unknown_key_is_refused(self) -> None:
        assert DAEMON is not None and DAEMON.curve_files is not None
        stranger = DAEMON.curve_files.stranger
        with DAEMON.endpoint_client(curve=stranger, connect_timeout=CONNECT_TIMEOUT_S) as client:
            self.assert_refused(client, "handshake failed auth")
        with DAEMON.client(curve=stranger, connect_timeout=CONNECT_TIMEOUT_S) as spec:
            self.assert_refused(spec, "handshake failed auth")

        async def scenario() -> None:
            async with DAEMON.async_endpoint_client(curve=stranger, connect_timeout=CONNECT_TIMEOUT_S) as client:
                with self.assertRaises(planificador.Unreachable) as caught:
                    await client.run("bash", "true")
                self.assertTrue(caught.exception.refused, caught.exception)

        asyncio.run(scenario())

    def test_plain_client_is_refused(self) -> None:
        assert DAEMON is not None
        with DAEMON.endpoint_client(curve=None, connect_timeout=CONNECT_TIMEOUT_S) as client:
            self.assert_refused(client, "requires CURVE")
        with DAEMON.client(curve=None, connect_timeout=CONNECT_TIMEOUT_S) as spec:
            self.assert_refused(spec, "refused this client")


if __name__ == "__main__":
    unittest.main()
