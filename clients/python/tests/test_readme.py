"""The README's examples, run against a real daemon: they must print what the README says."""

from __future__ import annotations

import contextlib
import io
import re
import unittest
from typing import Optional

import _daemon

DAEMON: Optional[_daemon.Daemon] = None
README = _daemon.HERE.parent / "README.md"
BLOCK = re.compile(r"```python\n(.*?)```\n\n```text\n(.*?)```", re.DOTALL)


def setUpModule() -> None:
    global DAEMON
    DAEMON = _daemon.start_daemon("readme")


def tearDownModule() -> None:
    if DAEMON is not None:
        _daemon.stop_daemon(DAEMON)


class ReadmeExamples(unittest.TestCase):
    def test_examples_print_what_the_readme_shows(self) -> None:
        assert DAEMON is not None
        examples = BLOCK.findall(README.read_text())
        self.assertEqual(len(examples), 4, "expected the sync, streaming, runners and asyncio examples")
        for code, expected in examples:
            with self.subTest(example=code.splitlines()[0]):
                # The examples use the default endpoint; this daemon listens elsewhere.
                self.assertIn("Client()", code)
                code = code.replace("Client()", f"Client(endpoint={DAEMON.clients!r})")
                printed = io.StringIO()
                with contextlib.redirect_stdout(printed):
                    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
                self.assertEqual(printed.getvalue(), expected)


if __name__ == "__main__":
    unittest.main()
