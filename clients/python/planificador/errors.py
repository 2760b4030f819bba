"""Exceptions of the planificador client.

A task the daemon rejects is not an exception: it is a Result with exit code 125 and the
daemon's diagnostic on stderr (SPEC §3). Exceptions are for what keeps a task from being
answered at all.
"""

from __future__ import annotations

from typing import Optional


class PlanificadorError(Exception):
    """Base class of this library's own errors."""


class Unreachable(PlanificadorError, ConnectionError):
    """No ZeroMQ peer completed a handshake at an endpoint within connect_timeout, or the
    peer there refused this client (a CURVE key it does not allow, CURVE on one side only).

    ZeroMQ's connect() never fails (it retries in the background), so without this check a
    missing daemon would look like a task that never ends. `reason` is the last failed
    handshake's cause, None when no handshake was even attempted by a peer; `refused` is
    True when the peer answered and said no, which retrying does not change.
    """

    def __init__(
        self,
        endpoint: str,
        role: str,
        waited: float,
        reason: Optional[str] = None,
        refused: bool = False,
    ) -> None:
        if refused:
            message = f"the daemon at {endpoint} refused this client ({role} socket): {reason}"
        elif reason:
            message = (
                f"nothing answers at {endpoint} ({role} socket: no ZeroMQ handshake completed "
                f"within {waited:.1f} s; the last attempt failed: {reason})"
            )
        else:
            message = (
                f"nothing answers at {endpoint} ({role} socket: no ZeroMQ peer completed a "
                f"handshake within {waited:.1f} s); is the planificador daemon running there?"
            )
        super().__init__(message)
        self.endpoint = endpoint
        self.role = role
        self.waited = waited
        self.reason = reason
        self.refused = refused


class ConnectionLost(PlanificadorError, ConnectionError):
    """The connection that carries a task's events dropped before its EXITED came.

    The daemon died, restarted or closed the connection. Whether the task ran, and how it
    ended, is unknown: over the client endpoint the daemon cancels a lost connection's tasks;
    over SPEC's sockets the task may still run (cancel it by id if it must not).
    """

    def __init__(self, endpoint: str, role: str, what: str) -> None:
        """`what` completes "before …": "task 0123… ended", "the RUNNERS answer came"."""
        if role == "clients":
            consequence = (
                "its outcome is unknown (the daemon cancels a lost connection's tasks when it notices the loss)"
            )
        else:
            consequence = (
                "its outcome is unknown (it may still run there: cancel it by id if it must not)"
            )
        super().__init__(
            f"the daemon at {endpoint} went away ({role} socket disconnected) before {what}: "
            f"{consequence}"
        )
        self.endpoint = endpoint
        self.role = role


class ClientClosed(PlanificadorError):
    """The client was closed before the task's EXITED arrived, or a call came after close()."""
