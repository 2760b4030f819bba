"""What the threaded and the asyncio client share: choosing the endpoints, opening and
configuring sockets, building a submission, the per-task record of events, the reading of
ZeroMQ monitor events and of events frames."""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

import zmq
from zmq.utils.monitor import parse_monitor_message

from . import protocol
from .curve import CurveKeys
from .errors import Unreachable
from .protocol import BytesLike, Event, MalformedEvent
from .result import Result

log = logging.getLogger("planificador")

# A handshake, not a TCP connect, is what proves a ZeroMQ peer listens: anything can accept
# a TCP connection. DISCONNECTED ends the session whatever stage it had reached; a failed
# handshake says why nothing came up (a refused CURVE key, CURVE on one side only).
MONITOR_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)

# How often a blocked send re-checks connection state, deadlines and close().
POLL_SLICE_S = 0.05

# How long a closing client lets queued SUBMITs and CANCELs still leave.
LINGER_MS = 1000

# TCP keepalive: a daemon host that vanishes without closing the connection (power, network)
# is noticed after about IDLE + COUNT * INTERVAL seconds. Probes are answered by the peer's
# kernel, so a client that does not read for a while is not taken for a dead one.
KEEPALIVE_IDLE_S = 20
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 4

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5559"  # server.clients (docs/protocol.md)
DEFAULT_INTAKE = "tcp://127.0.0.1:5555"
DEFAULT_EVENTS = "tcp://127.0.0.1:5556"

# The role names in errors: "clients" is the daemon's server.clients endpoint.
CLIENTS_ROLE = "clients"


@dataclass(frozen=True)
class Endpoints:
    """Where a client connects: the client endpoint, or SPEC's intake/events (and control)."""

    clients: Optional[str]
    intake: Optional[str]
    events: Optional[str]
    control: Optional[str]


def choose_endpoints(
    intake: Optional[str], events: Optional[str], control: Optional[str], endpoint: Optional[str]
) -> Endpoints:
    """SPEC's sockets when any of intake, events or control is given (a missing intake or
    events keeps its SPEC §5 default); otherwise the one client endpoint."""
    if intake or events or control:
        if endpoint:
            raise ValueError(
                "endpoint= (the daemon's client endpoint) and intake=/events=/control= "
                "(SPEC's sockets) are two ways to reach a daemon: give one of them"
            )
        return Endpoints(None, intake or DEFAULT_INTAKE, events or DEFAULT_EVENTS, control or None)
    return Endpoints(endpoint or DEFAULT_ENDPOINT, None, None, None)


@dataclass(frozen=True)
class Submission:
    task_id: str
    frame: bytes


def prepare_submission(
    image: str,
    code: Union[str, BytesLike],
    *,
    stdin: Optional[Union[str, BytesLike]],
    args: Optional[Sequence[str]],
    env: Optional[Mapping[str, str]],
    files: Optional[Mapping[str, Union[str, BytesLike]]],
    limits: Optional[Mapping[str, int]],
    report: bool,
) -> Submission:
    """A fresh task id and the SUBMIT or SUBMIT_EXT frame for it.

    SUBMIT_EXT is used whenever an option is given or a REPORT is wanted (report=True):
    plain SUBMIT never gets a REPORT (SPEC §4), so asking for one is itself an option.
    """
    if not isinstance(image, str):
        raise TypeError(f"image must be str, not {type(image).__name__}")
    options = protocol.build_options(stdin=stdin, args=args, env=env, files=files, limits=limits)
    task_id = protocol.new_task_id()
    frame = protocol.encode_submit(task_id, image, code, options if (options or report) else None)
    return Submission(task_id, frame)


class TaskRecord:
    """The events of one task as they arrive, and the Result once EXITED came.

    Chunks are kept in one list that iterators walk by index, so iterating a task and then
    waiting for its Result (or iterating twice) sees every chunk without a second copy.
    """

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.chunks: list[tuple[str, bytes]] = []
        self.report: Optional[dict[str, Any]] = None
        self.exit_code: Optional[int] = None
        self.error: Optional[BaseException] = None
        self.result: Optional[Result] = None

    @property
    def finished(self) -> bool:
        return self.result is not None or self.error is not None

    def apply(self, event: Event) -> bool:
        """Records one event; returns True when it was EXITED (the task's last message)."""
        if event.kind in ("stdout", "stderr"):
            if event.data:
                self.chunks.append((event.kind, event.data))
            return False
        if event.kind == "report":
            self.report = event.report
            return False
        self.exit_code = event.exit_code
        self.result = Result(
            task_id=self.task_id,
            exit_code=event.exit_code,
            stdout=b"".join(data for stream, data in self.chunks if stream == "stdout"),
            stderr=b"".join(data for stream, data in self.chunks if stream == "stderr"),
            report=self.report,
        )
        return True


def runners_list(request_id: str, answer: Optional[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runners of a RUNNERS answer; MalformedEvent if it lacks the documented list."""
    runners = None if answer is None else answer.get("runners")
    if not isinstance(runners, list) or not all(isinstance(r, dict) for r in runners):
        raise MalformedEvent(f"the RUNNERS answer to {request_id} has no list of runners")
    return runners


class Counters:
    """Events the client could not deliver; nonzero values point at a misconfiguration."""

    def __init__(self) -> None:
        self.unknown_events = 0
        self.malformed_events = 0


def decode_frames(frames: list[bytes], counters: Counters) -> Optional[Event]:
    """The event one received message carries, or None (logged, counted) if it is malformed."""
    if len(frames) != 1:
        counters.malformed_events += 1
        log.warning(
            "dropping a %d-part events message (the protocol has single-part messages only): %s",
            len(frames),
            protocol.hex_prefix(frames[0] if frames else b""),
        )
        return None
    try:
        return protocol.decode_event(frames[0])
    except MalformedEvent as error:
        counters.malformed_events += 1
        log.warning("dropping a malformed event (%s): %s", error, protocol.hex_prefix(frames[0]))
        return None


def note_unknown(event: Event, counters: Counters) -> None:
    # Normal when another client shares the events endpoint or after a task was abandoned
    # by close(); debug level keeps it out of ordinary logs.
    counters.unknown_events += 1
    log.debug("dropping a %s event for unknown task %r", event.kind, event.task_id)


@dataclass(frozen=True)
class SessionChange:
    """What one monitor event says about a socket's one connection.

    up is True after a handshake, False after a disconnect, None when the session did not
    change; failure is why a handshake failed; refused is True when the peer answered and
    said no (a CURVE key it does not allow, a mismatched mechanism): retrying will not help.
    """

    up: Optional[bool]
    failure: Optional[str] = None
    refused: bool = False


def _handshake_failure(event: int, value: int, curve: bool) -> tuple[str, bool]:
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return (
            f"handshake failed auth (ZAP status {value}): the daemon does not allow this "
            "client's CURVE public key; is it listed in the daemon's curve.clients_allow?"
            if curve
            else f"handshake failed auth (ZAP status {value})",
            True,
        )
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            return (
                "handshake failed: the daemon requires CURVE and this client has no curve= keys"
                if not curve
                else "handshake failed: this client uses CURVE and the daemon does not",
                True,
            )
        if value == zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
            return "handshake failed: a CURVE cryptographic error (is curve's server key the daemon's?)", True
        return f"handshake failed: ZMTP protocol error 0x{value:08x}", True
    reason = os.strerror(value) if value in errno.errorcode else f"error {value}"
    if curve:
        # A CURVE server that cannot open the HELLO box (a wrong server key) just closes.
        return f"handshake failed ({reason}); with CURVE, a wrong server key looks like this", False
    return f"handshake failed ({reason})", False


def monitor_change(frames: list[bytes], curve: bool) -> Optional[SessionChange]:
    """The SessionChange one monitor message carries, or None if it says nothing of use.

    Each socket connects to exactly one endpoint, so it has at most one session at a time
    and a single flag describes it.
    """
    try:
        message = parse_monitor_message(frames)
    except Exception:  # a monitor frame we cannot parse says nothing about the peer
        return None
    event = message["event"]
    if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
        return SessionChange(True)
    if event == zmq.EVENT_DISCONNECTED:
        return SessionChange(False)
    if event in (
        zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
        zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
        zmq.EVENT_HANDSHAKE_FAILED_AUTH,
    ):
        failure, refused = _handshake_failure(event, int(message.get("value", 0)), curve)
        return SessionChange(None, failure, refused)
    return None


class Session:
    """What the monitor has said so far about one socket's connection to its endpoint."""

    def __init__(self, endpoint: str, role: str) -> None:
        self.endpoint = endpoint
        self.role = role
        self.up = False
        self.failure: Optional[str] = None
        self.refused = False

    def apply(self, change: SessionChange) -> bool:
        """Records a change; returns True when it ended a session that had come up."""
        if change.up:
            self.up, self.failure, self.refused = True, None, False
            return False
        if change.failure is not None:
            self.failure, self.refused = change.failure, change.refused
        if change.up is False:
            lost, self.up = self.up, False
            return lost
        return False

    def check_up(self, started: float, connect_timeout: float, now: float) -> bool:
        """True once the session is up; raises Unreachable when the peer refused this
        client, or when connect_timeout has passed since `started` without a session."""
        if self.up:
            return True
        if self.refused:
            raise Unreachable(self.endpoint, self.role, now - started, self.failure, refused=True)
        if now - started >= connect_timeout:
            raise Unreachable(self.endpoint, self.role, connect_timeout, self.failure)
        return False

    def unreachable(self, connect_timeout: float) -> Unreachable:
        """The error for a session that did not come up in time."""
        return Unreachable(self.endpoint, self.role, connect_timeout, self.failure, self.refused)


def subscription_change(frame: bytes) -> Optional[bool]:
    """What one XPUB message says: a subscriber joined (True) or left (False)."""
    if frame[:1] == b"\x01":
        return True
    if frame[:1] == b"\x00":
        return False
    return None


def configure(socket: zmq.Socket, curve: Optional[CurveKeys]) -> None:
    """What every socket towards the daemon gets before connect(): CURVE when asked for,
    TCP keepalive (see KEEPALIVE_IDLE_S)."""
    if curve is not None:
        curve.apply(socket)
    socket.setsockopt(zmq.TCP_KEEPALIVE, 1)
    socket.setsockopt(zmq.TCP_KEEPALIVE_IDLE, KEEPALIVE_IDLE_S)
    socket.setsockopt(zmq.TCP_KEEPALIVE_INTVL, KEEPALIVE_INTERVAL_S)
    socket.setsockopt(zmq.TCP_KEEPALIVE_CNT, KEEPALIVE_COUNT)


@dataclass
class Sockets:
    """The sockets of one client: intake and events, each with its monitor, and control."""

    intake: zmq.Socket
    intake_monitor: zmq.Socket
    events: zmq.Socket
    events_monitor: zmq.Socket
    control: Optional[zmq.Socket]


def open_sockets(
    ctx: zmq.Context, intake: str, events: str, control: Optional[str], curve: Optional[CurveKeys]
) -> Sockets:
    """Opens and connects a client's SPEC sockets on `ctx` (a zmq or a zmq.asyncio context).

    IMMEDIATE on intake: a SUBMIT waits for a live daemon instead of queuing towards an
    endpoint where nobody listens, so an absent daemon shows as an unwritable socket that a
    deadline can catch. Monitors are attached before connect(), so no handshake event is
    missed. Control is an XPUB rather than a PUB: the daemon's SUB subscription arrives as a
    message, which tells when a CANCEL published now would be delivered rather than silently
    dropped (PUB drops while no subscriber is known)."""
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.IMMEDIATE, 1)
    push.setsockopt(zmq.LINGER, LINGER_MS)
    configure(push, curve)
    push_monitor = push.get_monitor_socket(MONITOR_EVENTS)
    push.connect(intake)
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.LINGER, 0)
    configure(pull, curve)
    pull_monitor = pull.get_monitor_socket(MONITOR_EVENTS)
    pull.connect(events)
    xpub = None
    if control:
        xpub = ctx.socket(zmq.XPUB)
        xpub.setsockopt(zmq.LINGER, LINGER_MS)
        configure(xpub, curve)
        xpub.connect(control)
    return Sockets(push, push_monitor, pull, pull_monitor, xpub)


def open_dealer(
    ctx: zmq.Context, endpoint: str, curve: Optional[CurveKeys]
) -> tuple[zmq.Socket, zmq.Socket]:
    """Opens and connects the one DEALER of the client endpoint, and its monitor.

    No IMMEDIATE here, unlike intake: with it, libzmq tears down the DEALER's pipe when the
    connection drops, and events the daemon sent just before it went (its last EXITEDs)
    are lost with it, as a test of ROUTER-send-then-close shows in about one case of five.
    The client instead sends only while the monitor reports a live session. A frame that
    left just as the connection dropped goes out on the next one; the client then cancels
    what it failed with ConnectionLost, over that same DEALER."""
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, LINGER_MS)
    configure(dealer, curve)
    monitor = dealer.get_monitor_socket(MONITOR_EVENTS)
    dealer.connect(endpoint)
    return dealer, monitor
