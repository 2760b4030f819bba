"""The threaded client's two ways to reach a daemon, behind one small interface.

- DealerLink: one DEALER to the client endpoint (docs/protocol.md), which carries both
  directions. A ZeroMQ socket is not thread-safe, so only the reader thread touches it:
  callers put frames in an outbox and wait until the reader has handed them to ZeroMQ.
- SpecLink: SPEC's intake PUSH and control XPUB, used by callers' threads under a lock
  each, and the events PULL, read by the reader thread.

Both report to the Client through _deliver() (an events message) and _session_changed()
(a monitor event); the Client owns the tasks, the lock and the reader thread.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import zmq

from . import _common, protocol
from ._common import Session
from .curve import CurveKeys
from .errors import ConnectionLost, Unreachable

if TYPE_CHECKING:
    from .client import Client, Task

# Frames read per wake-up, so that monitor events and close() are never starved by a
# busy stream.
READ_BATCH = 1000


@dataclass
class Registration:
    """A task to enter in the client's table at the moment its SUBMIT is queued."""

    key: bytes
    task: "Task"


def read_frames(client: "Client", socket: zmq.Socket, limit: Optional[int]) -> None:
    """Delivers the messages waiting on `socket`, at most `limit` of them (None: all)."""
    count = 0
    while limit is None or count < limit:
        try:
            frames = socket.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return
        client._deliver(frames)
        count += 1


def read_monitor(client: "Client", monitor: zmq.Socket, session: Session, events: zmq.Socket,
                 curve: bool) -> None:
    """Applies the monitor's events to `session`. Before a disconnect is acted on, what the
    lost connection had already delivered is read: a task whose EXITED came just before
    the daemon went away has ended, it is not lost."""
    while True:
        try:
            frames = monitor.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return
        change = _common.monitor_change(frames, curve)
        if change is None:
            continue
        if change.up is False:
            read_frames(client, events, None)
        client._session_changed(session, change)


class _Outgoing:
    """One frame in the DealerLink's outbox; guarded by the client's lock."""

    __slots__ = ("frame", "key", "sent", "withdrawn")

    def __init__(self, frame: bytes, key: Optional[bytes]) -> None:
        self.frame = frame
        self.key = key
        self.sent = False
        self.withdrawn = False


class DealerLink:
    """One DEALER to the daemon's client endpoint, owned by the reader thread."""

    def __init__(self, client: "Client", ctx: zmq.Context, endpoint: str,
                 curve: Optional[CurveKeys]) -> None:
        self._client = client
        self._curve = curve is not None
        self._dealer, self._monitor = _common.open_dealer(ctx, endpoint, curve)
        self.session = Session(endpoint, _common.CLIENTS_ROLE)
        self.sessions = [self.session]
        self.lossy = self.session  # losing it loses the tasks' events
        self._outbox: collections.deque[_Outgoing] = collections.deque()
        self._writing = False

    # ----- the reader thread -----

    def register(self, poller: zmq.Poller) -> None:
        poller.register(self._dealer, zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)

    def before_poll(self, poller: zmq.Poller) -> None:
        # Asking for POLLOUT only while frames wait keeps an idle, writable DEALER from
        # waking the reader in a loop. A frame queued after this check wakes it by pipe.
        want = bool(self._outbox) and self.session.up
        if want != self._writing:
            poller.modify(self._dealer, zmq.POLLIN | (zmq.POLLOUT if want else 0))
            self._writing = want

    def handle(self, ready: dict) -> None:
        if self._dealer in ready:
            read_frames(self._client, self._dealer, READ_BATCH)
        if self._monitor in ready:
            read_monitor(self._client, self._monitor, self.session, self._dealer, self._curve)
        self._flush()

    def _flush(self) -> None:
        client = self._client
        sent = False
        with client._state:
            if not self.session.up:
                return  # the DEALER would queue it for a connection that may never come
            # Sent under the lock: a caller that gives up (withdraws) can then never have
            # its frame leave after it was told it did not.
            while self._outbox:
                item = self._outbox[0]
                if not item.withdrawn:
                    try:
                        self._dealer.send(item.frame, zmq.NOBLOCK)
                    except zmq.Again:
                        break  # the daemon pushes back
                    item.sent = True
                    sent = True
                self._outbox.popleft()
            if sent:
                client._state.notify_all()

    def unsent_keys(self) -> set[bytes]:
        """Task ids whose SUBMIT has not left yet (called under the client's lock)."""
        return {item.key for item in self._outbox if item.key is not None and not item.withdrawn}

    def tasks_lost(self, keys: list[bytes]) -> None:
        """CANCELs for tasks failed with ConnectionLost (reader thread). The daemon cancels
        a lost connection's tasks itself; a SUBMIT that was still in the DEALER's queue
        goes out on the next connection, and this CANCEL follows it there. Elsewhere the
        daemon ignores it."""
        for key in keys:
            try:
                self._dealer.send(protocol.encode_cancel(key), zmq.NOBLOCK)
            except zmq.Again:
                return

    # ----- callers' threads -----

    def send(self, frame: bytes, timeout: Optional[float],
             register: Optional[Registration] = None) -> None:
        client = self._client
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        item = _Outgoing(frame, register.key if register is not None else None)
        with client._state:
            while True:
                client._check_open()
                if self.session.check_up(started, client.connect_timeout, time.monotonic()):
                    break
                client._state.wait(_common.POLL_SLICE_S)
            if register is not None:
                # Registered before the frame can leave: the first event may come at once.
                client._tasks[register.key] = register.task
            self._outbox.append(item)
        client._wake()
        with client._state:
            try:
                while not item.sent:
                    client._check_open()
                    now = time.monotonic()
                    if not self.session.up:
                        self.session.check_up(started, client.connect_timeout, now)
                    if deadline is not None and now >= deadline:
                        # Connected but not writable: the daemon pushes back.
                        raise TimeoutError(f"the daemon did not take the frame within {timeout} s")
                    client._state.wait(_common.POLL_SLICE_S)
            except BaseException:
                item.withdrawn = True
                raise

    def send_cancel(self, task_id: str) -> None:
        self.send(protocol.encode_cancel(task_id), self._client.connect_timeout)

    def close(self) -> None:
        """After the reader thread has stopped."""
        self._dealer.disable_monitor()
        self._monitor.close(0)
        self._dealer.close()


class SpecLink:
    """SPEC's intake PUSH, events PULL and optional control XPUB."""

    def __init__(self, client: "Client", ctx: zmq.Context, endpoints: _common.Endpoints,
                 curve: Optional[CurveKeys]) -> None:
        assert endpoints.intake is not None and endpoints.events is not None
        self._client = client
        self._curve = curve is not None
        self.control_endpoint = endpoints.control
        sockets = _common.open_sockets(ctx, endpoints.intake, endpoints.events, endpoints.control, curve)
        self._intake, self._intake_monitor = sockets.intake, sockets.intake_monitor
        self._events, self._events_monitor = sockets.events, sockets.events_monitor
        self._control: Optional[zmq.Socket] = sockets.control
        self.intake = Session(endpoints.intake, "intake")
        self.events = Session(endpoints.events, "events")
        self.sessions = [self.intake, self.events]
        self.lossy = self.events
        self._send_lock = threading.Lock()
        self._control_lock = threading.Lock()
        self._control_subscribed = False
        self._unsent: set[bytes] = set()

    # ----- the reader thread -----

    def register(self, poller: zmq.Poller) -> None:
        poller.register(self._events, zmq.POLLIN)
        poller.register(self._intake_monitor, zmq.POLLIN)
        poller.register(self._events_monitor, zmq.POLLIN)

    def before_poll(self, poller: zmq.Poller) -> None:
        pass

    def handle(self, ready: dict) -> None:
        if self._events in ready:
            read_frames(self._client, self._events, READ_BATCH)
        if self._intake_monitor in ready:
            read_monitor(self._client, self._intake_monitor, self.intake, self._events, self._curve)
        if self._events_monitor in ready:
            read_monitor(self._client, self._events_monitor, self.events, self._events, self._curve)

    def unsent_keys(self) -> set[bytes]:
        """Tasks registered whose SUBMIT is not in ZeroMQ's hands yet (under the lock)."""
        return set(self._unsent)

    def tasks_lost(self, keys: list[bytes]) -> None:
        """Nothing: over SPEC's sockets a dropped events connection says nothing about
        the daemon, and a CANCEL would end tasks that may well run on."""

    # ----- callers' threads -----

    def send(self, frame: bytes, timeout: Optional[float],
             register: Optional[Registration] = None) -> None:
        client = self._client
        started = time.monotonic()
        # A task is sent only while its events can come back: otherwise an events endpoint
        # with nobody behind it would turn every task into one that never ends.
        with client._state:
            while True:
                client._check_open()
                if self.events.check_up(started, client.connect_timeout, time.monotonic()):
                    break
                client._state.wait(_common.POLL_SLICE_S)
            if register is not None:
                client._tasks[register.key] = register.task
                self._unsent.add(register.key)
            losses = client._losses
        if register is None:
            self._send_intake(frame, started, timeout)
            return
        try:
            self._send_intake(frame, started, timeout)
        finally:
            with client._state:
                self._unsent.discard(register.key)
                # The events connection dropped while this SUBMIT was being sent: the loss
                # spared it as unsent, but whether its events can still come is unknown.
                lost = client._losses != losses and client._tasks.pop(register.key, None) is not None
            if lost:
                session = self.events
                register.task._fail(
                    ConnectionLost(session.endpoint, session.role, f"task {register.task.id} ended")
                )

    def _send_intake(self, frame: bytes, started: float, timeout: Optional[float]) -> None:
        client = self._client
        deadline = None if timeout is None else started + timeout
        with self._send_lock:
            while True:
                client._check_open()
                try:
                    self._intake.send(frame, zmq.NOBLOCK)
                    return
                except zmq.Again:
                    pass
                now = time.monotonic()
                with client._state:
                    if not self.intake.up:
                        self.intake.check_up(started, client.connect_timeout, now)
                if deadline is not None and now >= deadline:
                    # Not writable: the daemon pushes back (its backlog is full).
                    raise TimeoutError(f"the daemon did not take the task within {timeout} s")
                self._intake.poll(int(_common.POLL_SLICE_S * 1000), zmq.POLLOUT)

    def send_cancel(self, task_id: str) -> None:
        client = self._client
        frame = protocol.encode_cancel(task_id)
        if self._control is None:
            self.send(frame, client.connect_timeout)
            return
        deadline = time.monotonic() + client.connect_timeout
        with self._control_lock:
            client._check_open()
            while True:
                while self._control.poll(0, zmq.POLLIN):
                    change = _common.subscription_change(self._control.recv(zmq.NOBLOCK))
                    if change is not None:
                        self._control_subscribed = change
                if self._control_subscribed:
                    break
                if time.monotonic() >= deadline:
                    raise Unreachable(self.control_endpoint or "", "control", client.connect_timeout)
                self._control.poll(int(_common.POLL_SLICE_S * 1000), zmq.POLLIN)
            self._control.send(frame)

    def close(self) -> None:
        """After the reader thread has stopped. Each lock is taken so that no caller thread
        is inside a send while its socket closes; such a caller sees the client closed at
        its next poll slice and gives up."""
        with self._send_lock:
            self._intake.disable_monitor()
            self._intake_monitor.close(0)
            self._intake.close()
        with self._control_lock:
            if self._control is not None:
                self._control.close()
        self._events.disable_monitor()
        self._events_monitor.close(0)
        self._events.close(0)

