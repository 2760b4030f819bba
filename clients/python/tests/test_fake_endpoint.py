"""The client endpoint's client side against a scripted stand-in for the daemon's ROUTER
(no Docker, fast): one DEALER for every task, events by task id, a lost connection fails
what was pending, CURVE refusals are a prompt Unreachable."""

from __future__ import annotations

import asyncio
import struct
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import zmq
import zmq.auth.thread

from _daemon import free_port
import planificador
from planificador import protocol

CONNECT_TIMEOUT_S = 3.0


def out(task_id: bytes, text: bytes, kind: int = 0x01) -> bytes:
    return bytes([kind]) + task_id + struct.pack(">I", len(text)) + text


def exited(task_id: bytes, code: int) -> bytes:
    return b"\x03" + task_id + struct.pack(">i", code)


class FakeRouter:
    """Binds a ROUTER as the daemon's server.clients does; the test scripts the answers.

    `curve`: (server public, server secret, allowed client public keys) makes it a CURVE
    server with a ZAP handler that allows only those keys, as the daemon's [curve] does.
    """

    def __init__(self, endpoint: Optional[str] = None,
                 curve: Optional[tuple[bytes, bytes, set[bytes]]] = None) -> None:
        self.ctx = zmq.Context()
        self.endpoint = endpoint or f"tcp://127.0.0.1:{free_port()}"
        self.auth: Optional[zmq.auth.thread.ThreadAuthenticator] = None
        self.router = self.ctx.socket(zmq.ROUTER)
        if curve is not None:
            public, secret, allowed = curve

            class Allowed:
                def callback(self, domain: str, key: bytes) -> bool:
                    return key in allowed

            self.auth = zmq.auth.thread.ThreadAuthenticator(self.ctx)
            self.auth.start()
            self.auth.configure_curve_callback(domain="*", credentials_provider=Allowed())
            self.router.curve_server = True
            self.router.curve_publickey = public
            self.router.curve_secretkey = secret
        self.router.setsockopt(zmq.SNDTIMEO, 5000)
        self.router.setsockopt(zmq.LINGER, 2000)
        self.router.bind(self.endpoint)

    def receive(self, timeout_ms: int = 5000) -> tuple[bytes, bytes]:
        """(connection identity, the one frame) of the next message a client sent."""
        if not self.router.poll(timeout_ms):
            raise AssertionError("the client sent nothing")
        parts = self.router.recv_multipart()
        assert len(parts) == 2, f"a DEALER message is one frame, got {len(parts) - 1}"
        return parts[0], parts[1]

    def send(self, identity: bytes, frame: bytes) -> None:
        self.router.send_multipart([identity, frame])

    def close(self) -> None:
        """Closes the ROUTER after what was sent has left, then the context."""
        self.router.close()
        if self.auth is not None:
            self.auth.stop()
        self.ctx.term()


def echo_server(fake: FakeRouter, count: int, cancels: Optional[list[bytes]] = None) -> threading.Thread:
    """Answers `count` SUBMITs: the code back as stdout, its length as the exit code. The
    ids of CANCELs that come meanwhile go to `cancels`."""

    def serve() -> None:
        answered = 0
        while answered < count:
            identity, frame = fake.receive(20000)
            if frame[0] == protocol.CANCEL:
                if cancels is not None:
                    cancels.append(frame[1:])
                continue
            answered += 1
            task_id = frame[1:33]
            image_len, code_len = struct.unpack_from(">II", frame, 33)
            header = 45 if frame[0] == protocol.SUBMIT_EXT else 41
            code = frame[header + image_len:header + image_len + code_len]
            fake.send(identity, out(task_id, code[:3]))
            fake.send(identity, out(task_id, code[3:]))
            fake.send(identity, exited(task_id, len(code) % 256))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


class Choice(unittest.TestCase):
    def test_defaults_and_spec_selection(self) -> None:
        with planificador.Client() as client:
            self.assertEqual(client.endpoint, "tcp://127.0.0.1:5559")
            self.assertIsNone(client.intake_endpoint)
        with planificador.Client(intake="tcp://127.0.0.1:7") as client:
            self.assertIsNone(client.endpoint)
            self.assertEqual(client.events_endpoint, "tcp://127.0.0.1:5556")
        with self.assertRaises(ValueError):
            planificador.Client("tcp://127.0.0.1:7", endpoint="tcp://127.0.0.1:8")
        with self.assertRaises(ValueError):
            planificador.AsyncClient(events="tcp://127.0.0.1:7", endpoint="tcp://127.0.0.1:8")


class SyncEndpoint(unittest.TestCase):
    def setUp(self) -> None:
        self.fake = FakeRouter()
        self.client = planificador.Client(endpoint=self.fake.endpoint, connect_timeout=CONNECT_TIMEOUT_S)

    def tearDown(self) -> None:
        self.client.close()
        if self.fake is not None:
            self.fake.close()

    def test_frames_and_events_by_task_id(self) -> None:
        first = self.client.submit("bash", "x", report=False)
        second = self.client.submit("python", "y", stdin="in")
        id1, frame1 = self.fake.receive()
        id2, frame2 = self.fake.receive()
        self.assertEqual(id1, id2, "one DEALER carries every task")
        self.assertEqual((frame1[0], frame1[1:33]), (protocol.SUBMIT, first.id.encode()))
        self.assertEqual((frame2[0], frame2[1:33]), (protocol.SUBMIT_EXT, second.id.encode()))
        a, b = first.id.encode(), second.id.encode()
        for frame in (out(b, b"B1"), out(a, b"A1"), out(a, b"a!", 0x02), out(b, b"B2"),
                      exited(a, 3), out(b"z" * 32, b"stray"), exited(b, 0)):
            self.fake.send(id1, frame)
        self.assertEqual((first.wait(5).stdout, first.wait(5).stderr, first.wait(5).exit_code),
                         (b"A1", b"a!", 3))
        self.assertEqual(second.wait(5).stdout, b"B1B2")
        self.assertEqual(self.client.counters.unknown_events, 1)
        self.assertTrue(self.client.connected)

    def test_runners_and_cancel_over_the_dealer(self) -> None:
        answers: list[list[dict]] = []
        asker = threading.Thread(target=lambda: answers.append(self.client.runners(timeout=5)))
        asker.start()
        identity, request = self.fake.receive()
        self.assertEqual((request[0], len(request)), (protocol.RUNNERS, 33))
        body = b'{"runners":[{"match":["bash"]}]}'
        self.fake.send(identity, b"\x20" + request[1:] + struct.pack(">I", len(body)) + body)
        asker.join(10)
        self.assertEqual(answers, [[{"match": ["bash"]}]])
        task = self.client.submit("bash", "sleep 9")
        self.fake.receive()
        task.cancel()
        _, cancel = self.fake.receive()
        self.assertEqual(cancel, b"\x02" + task.id.encode())

    def test_100_threads_share_the_dealer(self) -> None:
        server = echo_server(self.fake, 100)

        def one(i: int) -> planificador.Result:
            return self.client.run("bash", f"code-{i}", report=False, timeout=30)

        with ThreadPoolExecutor(max_workers=100) as pool:
            results = list(pool.map(one, range(100)))
        server.join(10)
        for i, result in enumerate(results):
            self.assertEqual(result.stdout, f"code-{i}".encode())
            self.assertEqual(result.exit_code, len(f"code-{i}"))
        self.assertEqual(self.client.counters.unknown_events, 0)

    def test_lost_connection_fails_pending_tasks(self) -> None:
        done = self.client.submit("bash", "a")
        pending = self.client.submit("bash", "b")
        identity, _ = self.fake.receive()
        self.fake.receive()
        self.fake.send(identity, out(pending.id.encode(), b"partial"))
        self.fake.send(identity, exited(done.id.encode(), 0))
        asker_errors: list[BaseException] = []

        def ask() -> None:
            try:
                self.client.runners(timeout=10)
            except BaseException as error:
                asker_errors.append(error)

        asker = threading.Thread(target=ask)
        asker.start()
        self.fake.receive()
        started = time.monotonic()
        self.fake.close()  # what it sent leaves first, then the connection drops
        self.fake = None  # type: ignore[assignment]
        with self.assertRaises(planificador.ConnectionLost) as caught:
            pending.wait()
        self.assertLess(time.monotonic() - started, 3)
        self.assertIn(self.client.endpoint or "", str(caught.exception))
        self.assertIn("outcome is unknown", str(caught.exception))
        self.assertIsInstance(caught.exception, ConnectionError)
        # The EXITED that came before the drop counts: that task ended.
        self.assertEqual(done.wait(1).exit_code, 0)
        # Iterating yields what came, then raises.
        seen = []
        with self.assertRaises(planificador.ConnectionLost):
            for chunk in pending:
                seen.append(chunk)
        self.assertEqual(seen, [("stdout", b"partial")])
        asker.join(5)
        self.assertEqual([type(e) for e in asker_errors], [planificador.ConnectionLost])
        self.assertFalse(self.client.connected)

    def test_reconnects_to_a_new_daemon(self) -> None:
        endpoint = self.fake.endpoint
        lost = self.client.submit("bash", "a")
        self.fake.receive()
        self.fake.close()
        self.fake = None  # type: ignore[assignment]
        deadline = time.monotonic() + 5
        while self.client.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        self.fake = FakeRouter(endpoint)
        cancels: list[bytes] = []
        server = echo_server(self.fake, 1, cancels)
        self.assertEqual(self.client.run("bash", "again", timeout=10).stdout, b"again")
        server.join(5)
        # The lost task is cancelled on the new connection too, in case its SUBMIT was
        # still queued in the DEALER and went out there.
        self.assertEqual(cancels, [lost.id.encode()])

    def test_run_raises_connection_lost(self) -> None:
        def drop() -> None:
            self.fake.receive()
            self.fake.close()

        dropper = threading.Thread(target=drop)
        dropper.start()
        with self.assertRaises(planificador.ConnectionLost):
            self.client.run("bash", "sleep 100")
        dropper.join(5)
        self.fake = None  # type: ignore[assignment]


class SpecEventsLost(unittest.TestCase):
    def test_events_socket_dropping_fails_pending(self) -> None:
        ctx = zmq.Context()
        intake = f"tcp://127.0.0.1:{free_port()}"
        events = f"tcp://127.0.0.1:{free_port()}"
        pull = ctx.socket(zmq.PULL)
        pull.bind(intake)
        push = ctx.socket(zmq.PUSH)
        push.bind(events)
        try:
            with planificador.Client(intake, events, connect_timeout=CONNECT_TIMEOUT_S) as client:
                task = client.submit("bash", "x")
                self.assertTrue(pull.poll(5000))
                pull.recv()
                push.close(0)
                with self.assertRaises(planificador.ConnectionLost) as caught:
                    task.wait(10)
                self.assertIn(events, str(caught.exception))
                self.assertEqual(caught.exception.role, "events")
        finally:
            ctx.destroy(linger=0)


class AsyncEndpoint(unittest.TestCase):
    def run_async(self, scenario: Callable[[FakeRouter], "asyncio.Future[None]"]) -> None:
        fake = FakeRouter()
        try:
            asyncio.run(scenario(fake))  # type: ignore[arg-type]
        finally:
            fake.close()

    def test_concurrent_tasks_over_one_dealer(self) -> None:
        async def scenario(fake: FakeRouter) -> None:
            server = echo_server(fake, 50)
            async with planificador.AsyncClient(endpoint=fake.endpoint) as client:
                results = await asyncio.gather(
                    *(client.run("bash", f"async-{i}", timeout=30) for i in range(50))
                )
                for i, result in enumerate(results):
                    self.assertEqual(result.stdout, f"async-{i}".encode())
                runners = asyncio.ensure_future(client.runners(timeout=5))
                identity, request = await asyncio.get_running_loop().run_in_executor(None, fake.receive)
                body = b'{"runners":[]}'
                fake.send(identity, b"\x20" + request[1:] + struct.pack(">I", len(body)) + body)
                self.assertEqual(await runners, [])
            server.join(5)

        self.run_async(scenario)

    def test_lost_connection(self) -> None:
        async def scenario(fake: FakeRouter) -> None:
            loop = asyncio.get_running_loop()
            async with planificador.AsyncClient(endpoint=fake.endpoint, connect_timeout=2) as client:
                done = await client.submit("bash", "a")
                pending = await client.submit("bash", "b")
                identity, _ = await loop.run_in_executor(None, fake.receive)
                await loop.run_in_executor(None, fake.receive)
                fake.send(identity, exited(done.id.encode(), 7))
                fake.router.close()  # lingers until the EXITED left
                started = time.monotonic()
                with self.assertRaises(planificador.ConnectionLost):
                    await pending.wait()
                self.assertLess(time.monotonic() - started, 3)
                self.assertEqual((await done.wait(1)).exit_code, 7)
                with self.assertRaises(planificador.Unreachable):
                    await client.run("bash", "c")

        fake = FakeRouter()
        try:
            asyncio.run(scenario(fake))
        finally:
            if fake.auth is not None:
                fake.auth.stop()
            fake.ctx.term()


class CurveAgainstFake(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.server_public, cls.server_secret = zmq.curve_keypair()
        cls.allowed_public, cls.allowed_secret = zmq.curve_keypair()
        cls.other_public, cls.other_secret = zmq.curve_keypair()

    def keys(self, public: bytes, secret: bytes) -> planificador.CurveKeys:
        return planificador.CurveKeys(self.server_public.decode(), public.decode(), secret.decode())

    def setUp(self) -> None:
        self.fake = FakeRouter(curve=(self.server_public, self.server_secret, {self.allowed_public}))

    def tearDown(self) -> None:
        self.fake.close()

    def test_allowed_key(self) -> None:
        server = echo_server(self.fake, 1)
        with planificador.Client(endpoint=self.fake.endpoint,
                                 curve=self.keys(self.allowed_public, self.allowed_secret)) as client:
            self.assertEqual(client.run("bash", "curve!", timeout=10).stdout, b"curve!")
        server.join(5)

    def test_unknown_key_is_refused_promptly(self) -> None:
        curve = (self.server_public.decode(), self.other_public.decode(), self.other_secret.decode())
        with planificador.Client(endpoint=self.fake.endpoint, curve=curve, connect_timeout=5) as client:
            started = time.monotonic()
            with self.assertRaises(planificador.Unreachable) as caught:
                client.run("bash", "x")
            self.assertLess(time.monotonic() - started, 2.5)
        error = caught.exception
        self.assertTrue(error.refused)
        self.assertIn("refused this client", str(error))
        self.assertIn("handshake failed auth", str(error))
        self.assertIn(self.fake.endpoint, str(error))

    def test_plain_client_is_refused(self) -> None:
        with planificador.Client(endpoint=self.fake.endpoint, connect_timeout=5) as client:
            with self.assertRaises(planificador.Unreachable) as caught:
                client.submit("bash", "x")
        self.assertTrue(caught.exception.refused)
        self.assertIn("requires CURVE", str(caught.exception))

    def test_wrong_server_key_times_out_with_a_hint(self) -> None:
        wrong_public, _ = zmq.curve_keypair()
        curve = (wrong_public.decode(), self.allowed_public.decode(), self.allowed_secret.decode())
        with planificador.Client(endpoint=self.fake.endpoint, curve=curve, connect_timeout=1.0) as client:
            started = time.monotonic()
            with self.assertRaises(planificador.Unreachable) as caught:
                client.submit("bash", "x")
            self.assertLess(time.monotonic() - started, 2.5)
        self.assertIn(self.fake.endpoint, str(caught.exception))

    def test_async_unknown_key(self) -> None:
        curve = (self.server_public.decode(), self.other_public.decode(), self.other_secret.decode())

        async def scenario() -> None:
            async with planificador.AsyncClient(endpoint=self.fake.endpoint, curve=curve) as client:
                with self.assertRaises(planificador.Unreachable) as caught:
                    await client.run("bash", "x")
                self.assertTrue(caught.exception.refused)

        asyncio.run(scenario())

    def test_spec_sockets_use_curve_too(self) -> None:
        """intake PUSH and events PULL are CURVE clients as well."""
        intake = f"tcp://127.0.0.1:{free_port()}"
        events = f"tcp://127.0.0.1:{free_port()}"
        pull = self.fake.ctx.socket(zmq.PULL)
        push = self.fake.ctx.socket(zmq.PUSH)
        for socket in (pull, push):
            socket.curve_server = True
            socket.curve_publickey = self.server_public
            socket.curve_secretkey = self.server_secret
        pull.bind(intake)
        push.bind(events)
        try:
            with planificador.Client(intake, events,
                                     curve=self.keys(self.allowed_public, self.allowed_secret)) as client:
                task = client.submit("bash", "x", report=False)
                self.assertTrue(pull.poll(5000))
                frame = pull.recv()
                push.send(exited(frame[1:33], 4))
                self.assertEqual(task.wait(5).exit_code, 4)
            with planificador.Client(intake, events, connect_timeout=5,
                                     curve=self.keys(self.other_public, self.other_secret)) as client:
                with self.assertRaises(planificador.Unreachable) as caught:
                    client.submit("bash", "x")
                self.assertEqual(caught.exception.role, "events")
                self.assertTrue(caught.exception.refused)
        finally:
            pull.close(0)
            push.close(0)


if __name__ == "__main__":
    unittest.main()
