"""The threaded Client against a real daemon (CANCEL through intake: no control socket)."""

from __future__ import annotations

import time
import unittest
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import _daemon
import planificador

DAEMON: Optional[_daemon.Daemon] = None
TASK_TIMEOUT_S = 60.0
REPORT_KEYS = {"status", "exit_code", "signal", "wall_ms", "cpu_ms", "memory_peak_bytes",
               "output_bytes", "queued_ms", "executor"}

STREAMING = r"""
import sys, time
for i in range(1, 6):
    print(i, flush=True)
    print(f"e{i}", file=sys.stderr, flush=True)
    time.sleep(0.2)
"""


def setUpModule() -> None:
    global DAEMON
    DAEMON = _daemon.start_daemon("sync")


def tearDownModule() -> None:
    if DAEMON is not None:
        _daemon.stop_daemon(DAEMON)  # asserts the SIGTERM exit status is 0


class SyncClient(unittest.TestCase):
    client: planificador.Client

    @classmethod
    def setUpClass(cls) -> None:
        assert DAEMON is not None
        cls.client = DAEMON.client()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.client.close()

    def run_task(self, image: str, code: str, **options: object) -> planificador.Result:
        return self.client.run(image, code, timeout=TASK_TIMEOUT_S, **options)  # type: ignore[arg-type]

    def test_runners(self) -> None:
        """RUNNERS lists the shipped config's runners, in its order."""
        runners = self.client.runners(timeout=TASK_TIMEOUT_S)
        self.assertEqual([r["match"][0] for r in runners], ["python", "c", "cpp", "bash", "node"])
        self.assertEqual([r["compiles"] for r in runners], [False, True, True, False, False])
        self.assertEqual(runners[0]["limits"]["memory_bytes"], 256 << 20)

    def test_hello_python(self) -> None:
        result = self.run_task("python", "print('hello, world')")
        self.assertEqual(result.exit_code, 0, result.stderr)
        self.assertEqual(result.stdout, b"hello, world\n")
        self.assertEqual(result.text, "hello, world\n")
        self.assertEqual(result.stderr, b"")
        self.assertRegex(result.task_id, r"\A[0-9a-f]{32}\Z")

    def test_hello_bash_plain_submit(self) -> None:
        result = self.run_task("bash", "echo hello; echo oops >&2; exit 3", report=False)
        self.assertEqual((result.exit_code, result.stdout, result.stderr), (3, b"hello\n", b"oops\n"))
        self.assertIsNone(result.report)  # plain SUBMIT never gets REPORT

    def test_stdin_text_and_bytes(self) -> None:
        text = self.run_task("python", "import sys; print(sys.stdin.read().upper(), end='')",
                             stdin="héllo\n")
        self.assertEqual(text.stdout_text, "HÉLLO\n")
        raw = bytes(range(256))
        binary = self.run_task("python", "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read()[::-1])",
                               stdin=raw)
        self.assertEqual(binary.stdout, raw[::-1])

    def test_args_env_files(self) -> None:
        result = self.run_task(
            "bash",
            'echo "$1|$2|$GREETING"; cat data/in.txt; od -An -tx1 blob.bin | tr -d " \\n"',
            args=["one", "two words"],
            env={"GREETING": "hola"},
            files={"data/in.txt": "from a file\n", "blob.bin": b"\x00\xfe"},
        )
        self.assertEqual(result.exit_code, 0, result.stderr)
        self.assertEqual(result.stdout, b"one|two words|hola\nfrom a file\n00fe")

    def test_wall_limit_lowered(self) -> None:
        started = time.monotonic()
        result = self.run_task("bash", "sleep 5", limits={"wall_ms": 500})
        self.assertEqual(result.exit_code, 124)
        self.assertLess(time.monotonic() - started, 4.5)
        self.assertEqual(result.diagnostic, "planificador: time limit of 500 ms exceeded")
        self.assertEqual(result.report["status"], "time_limit")  # type: ignore[index]

    def test_report(self) -> None:
        assert DAEMON is not None
        result = self.run_task("python", "print('x')")
        self.assertIsInstance(result.report, dict)
        assert result.report is not None
        self.assertTrue(REPORT_KEYS <= result.report.keys(), result.report)
        self.assertEqual(result.report["status"], "exited")
        self.assertEqual(result.report["exit_code"], 0)
        self.assertEqual(result.report["output_bytes"], 2)
        self.assertEqual(result.report["executor"], DAEMON.executor)

    def test_rejection_is_a_result(self) -> None:
        unknown = self.run_task("no-such-image", "x")
        self.assertEqual(unknown.exit_code, 125)
        self.assertTrue(unknown.stderr.startswith(b"planificador: "), unknown.stderr)
        self.assertEqual(unknown.report["status"], "rejected")  # type: ignore[index]
        too_much = self.run_task("bash", "true", limits={"wall_ms": 10**9})
        self.assertEqual(too_much.exit_code, 125)
        bad_key = self.run_task("bash", "true", limits={"wall_seconds": 1})
        self.assertEqual(bad_key.exit_code, 125)
        self.assertIn(b"wall_seconds", bad_key.stderr)

    def test_streaming_order(self) -> None:
        task = self.client.submit("python", STREAMING)
        arrivals: list[tuple[str, bytes, bool]] = []
        for stream, chunk in task.chunks(timeout=TASK_TIMEOUT_S):
            arrivals.append((stream, chunk, task.done))
        result = task.wait(1)
        self.assertEqual(result.exit_code, 0, result.stderr)
        self.assertEqual(result.stdout, b"1\n2\n3\n4\n5\n")
        self.assertEqual(result.stderr, b"e1\ne2\ne3\ne4\ne5\n")
        stdout_chunks = [chunk for stream, chunk, _ in arrivals if stream == "stdout"]
        self.assertEqual(b"".join(stdout_chunks), result.stdout)
        # 200 ms between prints and a 10 ms flush: each line is its own chunk, in order.
        self.assertGreaterEqual(len(stdout_chunks), 4, arrivals)
        # Streamed, not delivered at exit: the first chunks came while the task still ran.
        self.assertFalse(arrivals[0][2])
        # Iterating again replays everything (the chunks are kept, not consumed).
        self.assertEqual(len(list(task)), len(arrivals))

    def test_100_concurrent_threads(self) -> None:
        def one(i: int) -> tuple[int, planificador.Result]:
            code = 'echo "out-$1"; echo "err-$1" >&2'
            return i, self.client.run("bash", code, args=[str(i)], timeout=180)

        with ThreadPoolExecutor(max_workers=100) as pool:
            outcomes = list(pool.map(one, range(100)))
        ids = set()
        for i, result in outcomes:
            self.assertEqual(result.exit_code, 0, result.stderr)
            self.assertEqual(result.stdout, f"out-{i}\n".encode())
            self.assertEqual(result.stderr, f"err-{i}\n".encode())
            ids.add(result.task_id)
        self.assertEqual(len(ids), 100)
        self.assertEqual(self.client.counters.unknown_events, 0)
        self.assertEqual(self.client.counters.malformed_events, 0)

    def test_cancel(self) -> None:
        task = self.client.submit("bash", "echo started; sleep 30")
        first = next(iter(task.chunks(timeout=TASK_TIMEOUT_S)))
        self.assertEqual(first, ("stdout", b"started\n"))
        started = time.monotonic()
        task.cancel()
        result = task.wait(10)
        self.assertEqual(result.exit_code, 130)
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(result.diagnostic, "planificador: cancelled")

    def test_wait_timeout(self) -> None:
        task = self.client.submit("bash", "sleep 1; echo done")
        started = time.monotonic()
        with self.assertRaises(TimeoutError):
            task.wait(0.2)
        self.assertLess(time.monotonic() - started, 0.5)
        # Not cancelled by the timeout: it still finishes normally.
        self.assertEqual(task.wait(TASK_TIMEOUT_S).stdout, b"done\n")

    def test_run_timeout_cancels(self) -> None:
        started = time.monotonic()
        with self.assertRaises(TimeoutError):
            self.client.run("bash", "sleep 30", timeout=0.5)
        self.assertLess(time.monotonic() - started, 1.5)


if __name__ == "__main__":
    unittest.main()
