"""What the threaded and the asyncio client share: building a submission, the per-task
record of events, the reading of ZeroMQ monitor events and of events frames."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

import zmq
from zmq.utils.monitor import parse_monitor_message

from . import protocol
from .protocol import BytesLike, Event, MalformedEvent
from .result import Result

log = logging.getLogger("planificador")

# A handshake, not a TCP connect, is what proves a ZeroMQ peer listens: anything can accept
# a TCP connection. DISCONNECTED ends the session whatever stage it had reached.
MONITOR_EVENTS = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED

# How often a blocked send re-checks connection state, deadlines and close().
POLL_SLICE_S = 0.05

# How long a closing client lets queued SUBMITs and CANCELs still leave.
LINGER_MS = 1000

DEFAULT_INTAKE = "tcp://127.0.0.1:5555"
DEFAULT_EVENTS = "tcp://127.0.0.1:5556"


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


def monitor_says_up(frames: list[bytes]) -> Optional[bool]:
    """True after a handshake, False after a disconnect, None for any other monitor event.

    Each socket connects to exactly one endpoint, so it has at most one session at a time
    and a single flag describes it.
    """
    try:
        message = parse_monitor_message(frames)
    except Exception:  # a monitor frame we cannot parse says nothing about the peer
        return None
    if message["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
        return True
    if message["event"] == zmq.EVENT_DISCONNECTED:
        return False
    return None


def subscription_change(frame: bytes) -> Optional[bool]:
    """What one XPUB message says: a subscriber joined (True) or left (False)."""
    if frame[:1] == b"\x01":
        return True
    if frame[:1] == b"\x00":
        return False
    return None


@dataclass
class Sockets:
    """The sockets of one client: intake and events, each with its monitor, and control."""

    intake: zmq.Socket
    intake_monitor: zmq.Socket
    events: zmq.Socket
    events_monitor: zmq.Socket
    control: Optional[zmq.Socket]


def open_sockets(ctx: zmq.Context, intake: str, events: str, control: Optional[str]) -> Sockets:
    """Opens and connects a client's sockets on `ctx` (a zmq or a zmq.asyncio context).

    IMMEDIATE on intake: a SUBMIT waits for a live daemon instead of queuing towards an
    endpoint where nobody listens, so an absent daemon shows as an unwritable socket that a
    deadline can catch. Monitors are attached before connect(), so no handshake event is
    missed. Control is an XPUB rather than a PUB: the daemon's SUB subscription arrives as a
    message, which tells when a CANCEL published now would be delivered rather than silently
    dropped (PUB drops while no subscriber is known)."""
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.IMMEDIATE, 1)
    push.setsockopt(zmq.LINGER, LINGER_MS)
    push_monitor = push.get_monitor_socket(MONITOR_EVENTS)
    push.connect(intake)
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.LINGER, 0)
    pull_monitor = pull.get_monitor_socket(MONITOR_EVENTS)
    pull.connect(events)
    xpub = None
    if control:
        xpub = ctx.socket(zmq.XPUB)
        xpub.setsockopt(zmq.LINGER, LINGER_MS)
        xpub.connect(control)
    return Sockets(push, push_monitor, pull, pull_monitor, xpub)

