"""The threaded client: one connection to a daemon shared by every task, read by one
reader thread that hands each event to its task by task id.

The connection is one DEALER to the daemon's client endpoint (the default), or SPEC's
intake PUSH and events PULL; _links.py holds both and says which thread touches which
socket (ZeroMQ sockets are not thread-safe). Tasks are handed between threads under locks.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

import zmq

from . import _common, protocol
from ._common import Counters, Session, SessionChange, TaskRecord
from ._links import DealerLink, Registration, SpecLink
from .curve import CurveArgument, as_curve_keys
from .errors import ClientClosed, ConnectionLost, PlanificadorError
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
        the task goes on running (cancel() it if it should not). ConnectionLost if the
        connection to the daemon dropped first; ClientClosed if the client was closed."""
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
        """Sends CANCEL (over the client endpoint; with SPEC's sockets to control if the
        client has one, else to intake). The task still ends with EXITED (130 if it was
        cancelled, its own code if it had finished)."""
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
    """A client of one planificador daemon (or, over SPEC's sockets, a fleet broker).

    By default it connects one DEALER to the daemon's client endpoint (`endpoint`,
    server.clients), which delivers to each connection the events of its own tasks only:
    any number of clients may share a daemon. Giving `intake`, `events` or `control` uses
    SPEC's sockets instead (a missing intake or events keeps its default); the daemon's
    events PUSH spreads events over all connected readers, so connect only one client at a
    time to one events endpoint. Either way, share one Client between threads.

    `curve`: CurveKeys (or server key, client public key, client secret key in Z85) for a
    daemon with a [curve] table; CurveKeys.from_files reads planctl keygen's files.
    """

    def __init__(
        self,
        intake: Optional[str] = None,
        events: Optional[str] = None,
        control: Optional[str] = None,
        connect_timeout: float = 5.0,
        *,
        endpoint: Optional[str] = None,
        curve: CurveArgument = None,
    ) -> None:
        endpoints = _common.choose_endpoints(intake, events, control, endpoint)
        self.endpoint = endpoints.clients
        self.intake_endpoint = endpoints.intake
        self.events_endpoint = endpoints.events
        self.control_endpoint = endpoints.control
        self.connect_timeout = connect_timeout
        self.curve = as_curve_keys(curve)
        self.counters = Counters()

        self._closed = False
        self._state = threading.Condition()  # guards the sessions, _tasks, _runners, the outbox
        self._tasks: dict[bytes, Task] = {}
        self._losses = 0  # how often the connection that carries events was lost
        # RUNNERS requests: None until the answer (or the error that ended the wait) comes.
        self._runners: dict[bytes, Optional[Any]] = {}
        self._ctx = zmq.Context()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        try:
            if endpoints.clients is not None:
                self._link: Any = DealerLink(self, self._ctx, endpoints.clients, self.curve)
            else:
                self._link = SpecLink(self, self._ctx, endpoints, self.curve)
        except BaseException:
            self._ctx.destroy(linger=0)
            os.close(self._wake_read)
            os.close(self._wake_write)
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
        is full); Unreachable comes after connect_timeout if no daemon answers at all, and
        at once if the daemon refuses this client's CURVE keys.
        """
        submission = _common.prepare_submission(
            image, code, stdin=stdin, args=args, env=env, files=files, limits=limits, report=report
        )
        task = Task(self, submission.task_id)
        key = submission.task_id.encode("ascii")
        try:
            self._link.send(submission.frame, timeout, Registration(key, task))
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
        """Sends CANCEL for a task id. Over the client endpoint the daemon honours it only
        for this client's own tasks; over SPEC's sockets it reaches any task."""
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
            self._link.send(protocol.encode_runners(request_id), timeout)
            with self._state:
                if not self._state.wait_for(
                    lambda: self._closed or self._runners.get(key) is not None, timeout
                ):
                    raise TimeoutError(f"no RUNNERS answer within {timeout} s")
                self._check_open()
                answer = self._runners[key]
            if isinstance(answer, BaseException):
                raise answer
            return _common.runners_list(request_id, answer)
        finally:
            with self._state:
                self._runners.pop(key, None)

    @property
    def connected(self) -> bool:
        """Whether every socket of the client currently has a live daemon session."""
        with self._state:
            return all(session.up for session in self._link.sessions)

    def close(self) -> None:
        """Stops the reader, closes the sockets; pending tasks fail with ClientClosed."""
        with self._state:
            if self._closed:
                return
            self._closed = True
            pending = list(self._tasks.values())
            self._tasks.clear()
            self._state.notify_all()
        self._wake()
        self._reader.join()
        for task in pending:
            task._fail(ClientClosed(f"the client was closed before task {task.id} ended"))
        self._link.close()
        os.close(self._wake_read)
        os.close(self._wake_write)
        self._ctx.term()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----- used by the links -----

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosed("the client is closed")

    def _send_cancel(self, task_id: str) -> None:
        self._link.send_cancel(task_id)

    def _wake(self) -> None:
        """Interrupts the reader's poll (thread-safe: a pipe, not a ZeroMQ socket)."""
        try:
            os.write(self._wake_write, b"\0")
        except BlockingIOError:  # the pipe is full: the reader is already due to wake
            pass

    def _deliver(self, frames: list[bytes]) -> None:
        """Hands one events message to its task or RUNNERS request (reader thread)."""
        event = _common.decode_frames(frames, self.counters)
        if event is None:
            return
        if event.kind == "runners":
            with self._state:
                if event.task_id in self._runners and self._runners[event.task_id] is None:
                    self._runners[event.task_id] = event.report
                    self._state.notify_all()
                    return
        with self._state:
            task = self._tasks.get(event.task_id)
        if task is None:
            _common.note_unknown(event, self.counters)
            return
        if task._apply(event):
            with self._state:
                self._tasks.pop(event.task_id, None)

    def _session_changed(self, session: Session, change: SessionChange) -> None:
        """Applies a monitor event (reader thread). When the connection that carries the
        events drops, every task sent over it fails with ConnectionLost: its EXITED can no
        longer come. A task whose SUBMIT has not left yet stays, for the next connection."""
        lost: list[Task] = []
        with self._state:
            if session.apply(change) and session is self._link.lossy:
                self._losses += 1
                unsent = self._link.unsent_keys()
                for key in [key for key in self._tasks if key not in unsent]:
                    lost.append(self._tasks.pop(key))
                for key, answer in self._runners.items():
                    if answer is None:
                        self._runners[key] = ConnectionLost(
                            session.endpoint, session.role, "the RUNNERS answer came"
                        )
            self._state.notify_all()
        if lost:
            self._link.tasks_lost([task.id.encode("ascii") for task in lost])
            _common.log.warning(
                "lost the connection to %s (%s socket): %d pending task(s) fail with ConnectionLost",
                session.endpoint, session.role, len(lost),
            )
        for task in lost:
            task._fail(ConnectionLost(session.endpoint, session.role, f"task {task.id} ended"))

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
        poller.register(self._wake_read, zmq.POLLIN)
        self._link.register(poller)
        while True:
            self._link.before_poll(poller)
            ready = dict(poller.poll())
            if self._wake_read in ready:
                os.read(self._wake_read, 4096)
                if self._closed:
                    return
            self._link.handle(ready)
