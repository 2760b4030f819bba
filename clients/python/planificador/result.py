"""The outcome of one task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

# Exit codes with which the daemon itself ends a task and explains why on stderr (SPEC §3).
DAEMON_EXIT_CODES = frozenset({124, 125, 130, 137, 152, 153})
_DIAGNOSTIC_PREFIX = b"planificador: "


@dataclass(frozen=True)
class Result:
    """Everything the daemon sent for one task.

    stdout and stderr are the exact bytes (binary safe). report is the REPORT object of a
    SUBMIT_EXT task (SPEC §4), None for a plain SUBMIT.
    """

    task_id: str
    exit_code: int
    stdout: bytes
    stderr: bytes
    report: Optional[dict[str, Any]] = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def text(self) -> str:
        """stdout decoded as UTF-8 (undecodable bytes replaced)."""
        return self.stdout_text

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")

    @property
    def diagnostic(self) -> Optional[str]:
        """The daemon's own `planificador: …` line when it ended or rejected the task.

        The daemon sends it as the last stderr chunk; the program's own stderr could
        imitate it, which is why the exit code has to be one the daemon uses too.
        """
        if self.exit_code not in DAEMON_EXIT_CODES:
            return None
        found = self.stderr.rfind(b"\n" + _DIAGNOSTIC_PREFIX)
        if found >= 0:
            start = found + 1
        elif self.stderr.startswith(_DIAGNOSTIC_PREFIX):
            start = 0
        else:
            return None
        return self.stderr[start:].decode("utf-8", errors="replace").rstrip("\n")
