"""The threaded client: one PUSH to intake, one PULL from events shared by every task.

Socket ownership (ZeroMQ sockets are not thread-safe): the intake PUSH and the control
XPUB are used only by callers' threads, each under its own lock; the events PULL and the
monitor sockets only by the reader thread. Tasks are handed between them under locks.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

import zmq

from . import _common, protocol
from ._common import Counters, TaskRecord
from .errors import ClientClosed, PlanificadorError, Unreachable
from .protocol import BytesLike
from .result import Result


class Task:
    """A submitted task. Iterate it for its output chunks; wait() for its Result."""

    def __init__(self, client: "Client", task_id: str) -> None:
        self._client = client
        self._record = TaskRecord(task_id)
        self._cond = threading.Condition()

    @property
    def id(self) -> str:
        return self._record.task_id

    @property
    def done(self) -> bool:
        with self._cond:
            return self._record.finished

    def wait(self, timeout: Optional[float] = None) -> Result:
        """The Result once EXITED came. TimeoutError if it did not within timeout seconds;
        the task goes on running (cancel() it if it should not)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._record.finished, timeout):
                raise TimeoutError(f"task {self.id} did not finish within {timeout} s")
            return self._finished_result()

    def chunks(self, timeout: Optional[float] = None) -> Iterator[tuple[str, bytes]]:
        """Yields ("stdout"|"stderr", bytes) in arrival order, from the first chunk, and
        ends at EXITED. timeout bounds the whole iteration (TimeoutError)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        index = 0
        while True:
            with self._cond:
                while index >= len(self._record.chunks) and not self._record.finished:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError(f"task {self.id} did not finish within {timeout} s")
                    self._cond.wait(remaining)
                if index < len(self._record.chunks):
                    item = self._record.chunks[index]
                    index += 1
                elif self._record.error is not None:
                    raise self._record.error
                else:
                    return
            yield item

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        return self.chunks()

    def cancel(self) -> None:
        """Sends CANCEL (to control if the client has one, else to intake). The task still
        ends with EXITED (130 if it was cancelled, its own code if it had finished)."""
        self._client._send_cancel(self.id)

    def _finished_result(self) -> Result:
        if self._record.error is not None:
            raise self._record.error
        assert self._record.result is not None
        return self._record.result

    # Called by the reader thread.
    def _apply(self, event: protocol.Event) -> bool:
        with self._cond:
            exited = self._record.apply(event)
            self._cond.notify_all()
            return exited

    def _fail(self, error: BaseException) -> None:
        with self._cond:
            if not self._record.finished:
                self._record.error = error
            self._cond.notify_all()

    def __repr__(self) -> str:
        return f"<planificador.Task {self.id} done={self.done}>"


class Client:
    """A client of one planificador daemon (or fleet broker).

    The daemon's events PUSH spreads events over all connected clients, so connect only
    one client at a time to one events endpoint; share this Client between threads instead.
    """

    def __init__(
        self,
        intake: str = _common.DEFAULT_INTAKE,
        events: str = _common.DEFAULT_EVENTS,
        control: Optional[str] = None,
        connect_timeout: float = 5.0,
    ) -> None:
        self.intake_endpoint = intake
        self.events_endpoint = events
        self.control_endpoint = control or None
        self.connect_timeout = connect_timeout
        self.counters = Counters()

        self._ctx = zmq.Context()
        self._closed = False
        self._state = threading.Condition()  # guards _intake_up, _events_up, _tasks
        self._intake_up = False
        self._events_up = False
        self._tasks: dict[bytes, Task] = {}
        self._runners: dict[bytes, Optional[dict[str, Any]]] = {}  # RUNNERS requests: answer
        self._send_lock = threading.Lock()
        self._control_lock = threading.Lock()
        self._control_subscribed = False
        try:
            sockets = _common.open_sockets(self._ctx, intake, events, self.control_endpoint)
            self._intake, self._intake_monitor = sockets.intake, sockets.intake_monitor
            self._events, self._events_monitor = sockets.events, sockets.events_monitor
            self._control: Optional[zmq.Socket] = sockets.control

            self._wake_address = f"inproc://planificador-wake-{id(self)}"
            self._wake_in = self._ctx.socket(zmq.PAIR)
            self._wake_in.bind(self._wake_address)
            self._wake_out = self._ctx.socket(zmq.PAIR)
            self._wake_out.connect(self._wake_address)
        except BaseException:
            self._ctx.destroy(linger=0)
            raise
        self._reader = threading.Thread(target=self._read_loop, name="planificador-events", daemon=True)
        self._reader.start()

    # ----- public API -----

    def submit(
        self,
        image: str,
        code: Union[str, BytesLike],
        *,
        stdin: Optional[Union[str, BytesLike]] = None,
        args: Optional[Sequence[str]] = None,
        env: Optional[Mapping[str, str]] = None,
        files: Optional[Mapping[str, Union[str, BytesLike]]] = None,
        limits: Optional[Mapping[str, int]] = None,
        report: bool = True,
        timeout: Optional[float] = None,
    ) -> Task:
        """Sends the task and returns at once with its Task.

        timeout bounds how long the send may wait while the daemon pushes back (its backlog
        is full); Unreachable comes after connect_timeout if no daemon answers at all.
        """
        submission = _common.prepare_submission(
            image, code, stdin=stdin, args=args, env=env, files=files, limits=limits, report=report
        )
        task = Task(self, submission.task_id)
        key = submission.task_id.encode("ascii")
        with self._state:
            self._check_open()
            # Registered before sending: the first event may beat send()'s return.
            self._tasks[key] = task
        try:
            self._send(submission.frame, timeout)
        except BaseException:
            with self._state:
                self._tasks.pop(key, None)
            raise
        return task

    def run(
        self,
        image: str,
        code: Union[str, BytesLike],
        *,
        stdin: Optional[Union[str, BytesLike]] = None,
        args: Optional[Sequence[str]] = None,
        env: Optional[Mapping[str, str]] = None,
        files: Optional[Mapping[str, Union[str, BytesLike]]] = None,
        limits: Optional[Mapping[str, int]] = None,
        report: bool = True,
        timeout: Optional[float] = None,
    ) -> Result:
        """Runs one task to its end. timeout bounds the whole call: when it passes, the task
        is cancelled (nobody could wait for it any more) and TimeoutError is raised."""
        started = time.monotonic()
        task = self.submit(
            image, code, stdin=stdin, args=args, env=env, files=files, limits=limits,
            report=report, timeout=timeout,
        )
        remaining = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        try:
            return task.wait(remaining)
        except TimeoutError:
            try:
                task.cancel()
            except Exception as error:  # the timeout is the error to report
                _common.log.warning("could not cancel timed-out task %s: %s", task.id, error)
            raise

    def cancel(self, task_id: str) -> None:
        """Sends CANCEL for a task id (also one submitted by another program)."""
        self._send_cancel(task_id)

    def runners(self, timeout: Optional[float] = 5.0) -> list[dict[str, Any]]:
        """What the daemon runs (RUNNERS, docs/protocol.md): one dict per runner with match,
        image, compiles, isolation, pool and limits, in the config's order. TimeoutError
        when no answer comes within timeout (a fleet broker does not answer RUNNERS)."""
        request_id = protocol.new_task_id()
        key = request_id.encode("ascii")
        with self._state:
            self._check_open()
            self._runners[key] = None
        try:
            self._send(protocol.encode_runners(request_id), timeout)
            with self._state:
                if not self._state.wait_for(
                    lambda: self._closed or self._runners.get(key) is not None, timeout
                ):
                    raise TimeoutError(f"no RUNNERS answer within {timeout} s")
                self._check_open()
                return _common.runners_list(request_id, self._runners[key])
        finally:
            with self._state:
                self._runners.pop(key, None)

    @property
    def connected(self) -> bool:
        """Whether both intake and events currently have a live daemon session."""
        with self._state:
            return self._intake_up and self._events_up

    def close(self) -> None:
        """Stops the reader, closes the sockets; pending tasks fail with ClientClosed."""
        with self._state:
            if self._closed:
                return
            self._closed = True
            pending = list(self._tasks.values())
            self._tasks.clear()
            self._state.notify_all()
        self._wake_out.send(b"")
        self._reader.join()
        for task in pending:
            task._fail(ClientClosed(f"the client was closed before task {task.id} ended"))
        # Each lock is taken so that no caller thread is inside a send while its socket
        # closes; such a caller sees _closed at its next poll slice and gives up.
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
        self._wake_out.close(0)
        self._wake_in.close(0)
        self._ctx.term()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----- sending -----

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosed("the client is closed")

    def _wait_events_up(self, deadline: float) -> None:
        """A task is sent only while its events can come back: otherwise an events endpoint
        with nobody behind it would turn every task into one that never ends."""
        with self._state:
            while not self._events_up:
                self._check_open()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Unreachable(self.events_endpoint, "events", self.connect_timeout)
                self._state.wait(min(remaining, _common.POLL_SLICE_S))

    def _send(self, frame: bytes, timeout: Optional[float]) -> None:
        started = time.monotonic()
        connect_deadline = started + self.connect_timeout
        deadline = None if timeout is None else started + timeout
        self._wait_events_up(connect_deadline)
        with self._send_lock:
            while True:
                self._check_open()
                try:
                    self._intake.send(frame, zmq.NOBLOCK)
                    return
                except zmq.Again:
                    pass
                now = time.monotonic()
                with self._state:
                    intake_up = self._intake_up
                if not intake_up and now >= connect_deadline:
                    raise Unreachable(self.intake_endpoint, "intake", self.connect_timeout)
                if deadline is not None and now >= deadline:
                    # Not writable: the daemon pushes back (its backlog is full).
                    raise TimeoutError(f"the daemon did not take the task within {timeout} s")
                self._intake.poll(int(_common.POLL_SLICE_S * 1000), zmq.POLLOUT)

    def _send_cancel(self, task_id: str) -> None:
        frame = protocol.encode_cancel(task_id)
        if self._control is None:
            self._send(frame, self.connect_timeout)
            return
        deadline = time.monotonic() + self.connect_timeout
        with self._control_lock:
            self._check_open()
            while True:
                while self._control.poll(0, zmq.POLLIN):
                    change = _common.subscription_change(self._control.recv(zmq.NOBLOCK))
                    if change is not None:
                        self._control_subscribed = change
                if self._control_subscribed:
                    break
                if time.monotonic() >= deadline:
                    raise Unreachable(self.control_endpoint or "", "control", self.connect_timeout)
                self._control.poll(int(_common.POLL_SLICE_S * 1000), zmq.POLLIN)
            self._control.send(frame)

    # ----- the reader thread -----

    def _read_loop(self) -> None:
        try:
            self._poll_forever()
        except Exception as error:
            # A bug here must not leave every waiter hanging: fail them all, loudly.
            _common.log.exception("the events reader stopped")
            with self._state:
                pending = list(self._tasks.values())
                self._tasks.clear()
            for task in pending:
                task._fail(PlanificadorError(f"the events reader stopped: {error!r}"))

    def _poll_forever(self) -> None:
        poller = zmq.Poller()
        poller.register(self._events, zmq.POLLIN)
        poller.register(self._intake_monitor, zmq.POLLIN)
        poller.register(self._events_monitor, zmq.POLLIN)
        poller.register(self._wake_in, zmq.POLLIN)
        while True:
            ready = dict(poller.poll())
            if self._wake_in in ready:
                return
            if self._intake_monitor in ready:
                self._read_monitor(self._intake_monitor, "intake")
            if self._events_monitor in ready:
                self._read_monitor(self._events_monitor, "events")
            if self._events in ready:
                self._read_events()

    def _read_monitor(self, monitor: zmq.Socket, role: str) -> None:
        while True:
            try:
                frames = monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            up = _common.monitor_says_up(frames)
            if up is None:
                continue
            with self._state:
                if role == "intake":
                    self._intake_up = up
                else:
                    self._events_up = up
                self._state.notify_all()

    def _read_events(self) -> None:
        # Bounded, so that monitor events and close() are never starved by a busy stream.
        for _ in range(1000):
            try:
                frames = self._events.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            event = _common.decode_frames(frames, self.counters)
            if event is None:
                continue
            if event.kind == "runners":
                with self._state:
                    if event.task_id in self._runners:
                        self._runners[event.task_id] = event.report
                        self._state.notify_all()
                        continue
            with self._state:
                task = self._tasks.get(event.task_id)
            if task is None:
                _common.note_unknown(event, self.counters)
                continue
            if task._apply(event):
                with self._state:
                    self._tasks.pop(event.task_id, None)
