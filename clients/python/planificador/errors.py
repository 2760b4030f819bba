"""Exceptions of the planificador client.

A task the daemon rejects is not an exception: it is a Result with exit code 125 and the
daemon's diagnostic on stderr (SPEC §3). Exceptions are for what keeps a task from being
answered at all.
"""

from __future__ import annotations


class PlanificadorError(Exception):
    """Base class of this library's own errors."""


class Unreachable(PlanificadorError, ConnectionError):
    """No ZeroMQ peer completed a handshake at an endpoint within connect_timeout.

    ZeroMQ's connect() never fails (it retries in the background), so without this check a
    missing daemon would look like a task that never ends.
    """

    def __init__(self, endpoint: str, role: str, waited: float) -> None:
        super().__init__(
            f"nothing answers at {endpoint} ({role} socket: no ZeroMQ peer completed a "
            f"handshake within {waited:.1f} s); is the planificador daemon running there?"
        )
        self.endpoint = endpoint
        self.role = role
        self.waited = waited


class ClientClosed(PlanificadorError):
    """The client was closed before the task's EXITED arrived, or a call came after close()."""
