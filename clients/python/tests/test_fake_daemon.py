"""Client behaviour against a scripted stand-in for the daemon (no Docker): malformed and
stray events are dropped and counted, close() fails pending tasks."""

from __future__ import annotations

import asyncio
import struct
import threading
import unittest

import zmq

from _daemon import free_port
import planificador


class FakeDaemon:
    """Binds intake (PULL) and events (PUSH) like the daemon and answers by script."""

    def __init__(self) -> None:
        self.ctx = zmq.Context()
        self.intake_endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.events_endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.intake = self.ctx.socket(zmq.PULL)
        self.intake.bind(self.intake_endpoint)
        self.events = self.ctx.socket(zmq.PUSH)
        self.events.setsockopt(zmq.SNDTIMEO, 5000)
        self.events.bind(self.events_endpoint)

    def receive(self) -> bytes:
        if not self.intake.poll(5000):
            raise AssertionError("the client sent nothing")
        return self.intake.recv()

    def close(self) -> None:
        self.ctx.destroy(linger=0)


def out(task_id: bytes, text: bytes, kind: int = 1) -> bytes:
    return bytes([kind]) + task_id + struct.pack(">I", len(text)) + text


def exited(task_id: bytes, code: int) -> bytes:
    return b"\x03" + task_id + struct.pack(">i", code)


class SyncAgainstFake(unittest.TestCase):
    def setUp(self) -> None:
        self.fake = FakeDaemon()
        self.client = planificador.Client(self.fake.intake_endpoint, self.fake.events_endpoint,
                                          connect_timeout=5)

    def tearDown(self) -> None:
        self.client.close()
        self.fake.close()

    def test_bad_events_are_dropped_and_counted(self) -> None:
        task = self.client.submit("bash", "x", report=False)
        frame = self.fake.receive()
        self.assertEqual(frame[0], 0x00)
        raw = frame[1:33]
        self.assertEqual(raw, task.id.encode())
        stranger = b"f" * 32
        with self.assertLogs("planificador", "WARNING") as logs:
            result = self._send_script(raw, stranger, task)
        self.assertEqual(len(logs.records), 4)
        self.assertEqual((result.stdout, result.stderr, result.exit_code), (b"hello world", b"oops", 3))
        self.assertIsNone(result.report)
        self.assertEqual(self.client.counters.malformed_events, 4)
        self.assertEqual(self.client.counters.unknown_events, 1)

    def _send_script(self, raw: bytes, stranger: bytes, task: planificador.Task) -> planificador.Result:
        self.fake.events.send(b"\x01short")  # shorter than 33 bytes
        self.fake.events.send(b"\x09" + raw)  # unknown type
        self.fake.events.send(b"\x01" + raw + b"\x00\x00\x00\x09abc")  # bad length
        self.fake.events.send_multipart([out(raw, b"a"), b"extra"])  # multi-part
        self.fake.events.send(out(stranger, b"not yours"))
        self.fake.events.send(out(raw, b"hello "))
        self.fake.events.send(out(raw, b"oops", kind=2))
        self.fake.events.send(out(raw, b"world"))
        self.fake.events.send(exited(raw, 3))
        return task.wait(5)

    def test_runners_answer_and_silence(self) -> None:
        """RUNNERS: the answer to this request only, by its id; no answer is a TimeoutError."""
        answers: list[list[dict]] = []
        asker = threading.Thread(target=lambda: answers.append(self.client.runners(timeout=5)))
        asker.start()
        request = self.fake.receive()
        self.assertEqual((request[0], len(request)), (0x20, 33))
        body = b'{"runners":[{"match":["bash"]}]}'
        other = b"\x20" + b"o" * 32 + struct.pack(">I", len(body)) + body
        self.fake.events.send(other)  # another client's answer: not this one
        self.fake.events.send(b"\x20" + request[1:] + struct.pack(">I", len(body)) + body)
        asker.join(10)
        self.assertEqual(answers, [[{"match": ["bash"]}]])
        with self.assertRaises(TimeoutError):
            self.client.runners(timeout=0.3)
        self.fake.receive()

    def test_close_fails_pending_tasks(self) -> None:
        task = self.client.submit("bash", "x")
        self.fake.receive()
        self.client.close()
        with self.assertRaises(planificador.ClientClosed):
            task.wait(5)
        with self.assertRaises(planificador.ClientClosed):
            self.client.submit("bash", "x")


class AsyncAgainstFake(unittest.TestCase):
    def test_bad_events_are_dropped(self) -> None:
        fake = FakeDaemon()

        async def scenario() -> None:
            async with planificador.AsyncClient(fake.intake_endpoint, fake.events_endpoint) as client:
                task = await client.submit("python", "x", stdin=b"\x00")
                frame = await asyncio.get_running_loop().run_in_executor(None, fake.receive)
                self.assertEqual(frame[0], 0x10)
                raw = frame[1:33]
                with self.assertLogs("planificador", "WARNING"):
                    fake.events.send(b"\x03" + raw)  # EXITED without its code
                    fake.events.send(out(raw, b"x"))
                    fake.events.send(b"\x10" + raw + b"\x00\x00\x00\x02{}")
                    fake.events.send(exited(raw, 0))
                    result = await task.wait(5)
                self.assertEqual((result.stdout, result.report), (b"x", {}))
                self.assertEqual(client.counters.malformed_events, 1)

        try:
            asyncio.run(scenario())
        finally:
            fake.close()


if __name__ == "__main__":
    unittest.main()
