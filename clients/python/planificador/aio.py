"""The asyncio client, on zmq.asyncio: the same sockets and rules as the threaded one.

All sockets live in one event loop, so the client endpoint's one DEALER can be sent on by
any coroutine and read by the reader. The reader task (events and monitors, in that order)
is started on first use (the loop must be running), and stopped by close().
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Mapping, Optional, Sequence, Union

import zmq
import zmq.asyncio

from . import _common, protocol
from ._common import Counters, Session, TaskRecord
from .curve import CurveArgument, as_curve_keys
from .errors import ClientClosed, ConnectionLost, Unreachable
from .protocol import BytesLike
from .result import Result


class _Signal:
    """Wakes every waiter once per notify(); cheaper than asyncio.Condition's locking."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: Optional[float]) -> None:
        """Returns on the next notify() or when timeout passes, whichever is first."""
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass


class AsyncTask:
    """A submitted task: `async for stream, chunk in task`, `await task.wait(timeout)`."""

    def __init__(self, client: "AsyncClient", task_id: str) -> None:
        self._client = client
        self._record = TaskRecord(task_id)
        self._changed = _Signal()

    @property
    def id(self) -> str:
        return self._record.task_id

    @property
    def done(self) -> bool:
        return self._record.finished

    async def wait(self, timeout: Optional[float] = None) -> Result:
        """The Result once EXITED came; TimeoutError if it did not within timeout seconds
        (the task is not cancelled by that); ConnectionLost if the connection dropped first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._record.finished:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"task {self.id} did not finish within {timeout} s")
            await self._changed.wait(remaining)
        return self._finished_result()

    async def chunks(self, timeout: Optional[float] = None) -> AsyncIterator[tuple[str, bytes]]:
        """Yields ("stdout"|"stderr", bytes) in arrival order and ends at EXITED; timeout
        bounds the whole iteration (TimeoutError)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        index = 0
        while True:
            while index >= len(self._record.chunks) and not self._record.finished:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"task {self.id} did not finish within {timeout} s")
                await self._changed.wait(remaining)
            if index < len(self._record.chunks):
                item = self._record.chunks[index]
                index += 1
                yield item
            elif self._record.error is not None:
                raise self._record.error
            else:
                return

    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        return self.chunks()

    async def cancel(self) -> None:
        """Sends CANCEL (over the client endpoint, or to SPEC's control or intake)."""
        await self._client._send_cancel(self.id)

    def _finished_result(self) -> Result:
        if self._record.error is not None:
            raise self._record.error
        assert self._record.result is not None
        return self._record.result

    def _apply(self, event: protocol.Event) -> bool:
        exited = self._record.apply(event)
        self._changed.notify()
        return exited

    def _fail(self, error: BaseException) -> None:
        if not self._record.finished:
            self._record.error = error
        self._changed.notify()

    def __repr__(self) -> str:
        return f"<planificador.AsyncTask {self.id} done={self.done}>"


class AsyncClient:
    """The asyncio flavour of Client (same arguments); share one between coroutines."""

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
        self._endpoints = endpoints
        self.endpoint = endpoints.clients
        self.intake_endpoint = endpoints.intake
        self.events_endpoint = endpoints.events
        self.control_endpoint = endpoints.control
        self.connect_timeout = connect_timeout
        self.curve = as_curve_keys(curve)
        self.counters = Counters()
        self._closed = False
        self._control_subscribed = False
        self._tasks: dict[bytes, AsyncTask] = {}
        self._unsent: set[bytes] = set()  # tasks registered whose SUBMIT has not left yet
        self._runners: dict[bytes, asyncio.Future[dict[str, Any]]] = {}  # RUNNERS requests
        self._readers: list[asyncio.Task[None]] = []
        if endpoints.clients is not None:
            self._sessions = [Session(endpoints.clients, _common.CLIENTS_ROLE)]
            # One connection: it carries the frames out and the events back.
            self._send_session = self._lossy = self._sessions[0]
        else:
            assert endpoints.intake is not None and endpoints.events is not None
            self._sessions = [Session(endpoints.intake, "intake"), Session(endpoints.events, "events")]
            self._send_session, self._lossy = self._sessions
        # Created lazily: asyncio primitives and zmq.asyncio sockets belong to the loop
        # that first uses them, which need not exist when the client is constructed.
        self._ctx: Optional[zmq.asyncio.Context] = None
        self._state_changed: Optional[_Signal] = None
        self._send_lock: Optional[asyncio.Lock] = None
        self._control_lock: Optional[asyncio.Lock] = None

    # ----- set-up and tear-down -----

    def _start(self) -> None:
        if self._closed:
            raise ClientClosed("the client is closed")
        if self._ctx is not None:
            return
        asyncio.get_running_loop()  # fails clearly outside a coroutine
        ctx = zmq.asyncio.Context()
        endpoints = self._endpoints
        try:
            if endpoints.clients is not None:
                dealer, monitor = _common.open_dealer(ctx, endpoints.clients, self.curve)
                self._out, self._in, self._control = dealer, dealer, None
                self._monitors = [monitor]
            else:
                assert endpoints.intake is not None and endpoints.events is not None
                sockets = _common.open_sockets(
                    ctx, endpoints.intake, endpoints.events, endpoints.control, self.curve
                )
                self._out, self._in, self._control = sockets.intake, sockets.events, sockets.control
                self._monitors = [sockets.intake_monitor, sockets.events_monitor]
        except BaseException:
            ctx.destroy(linger=0)
            raise
        self._ctx = ctx
        self._state_changed = _Signal()
        self._send_lock = asyncio.Lock()
        self._control_lock = asyncio.Lock()
        self._readers = [asyncio.create_task(self._read_loop(), name="planificador-events")]

    async def close(self) -> None:
        """Stops the reader and closes the sockets; pending tasks fail with ClientClosed."""
        if self._closed:
            return
        self._closed = True
        pending = list(self._tasks.values())
        self._tasks.clear()
        for task in pending:
            task._fail(ClientClosed(f"the client was closed before task {task.id} ended"))
        for answer in self._runners.values():
            if not answer.done():
                answer.set_exception(ClientClosed("the client was closed before RUNNERS was answered"))
        if self._ctx is None:
            return
        assert self._state_changed is not None and self._send_lock is not None
        self._state_changed.notify()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        # A coroutine inside a send sees _closed at its next poll slice and gives up.
        async with self._send_lock:
            self._out.disable_monitor()
            if self._in is not self._out:
                self._in.disable_monitor()
            for monitor in self._monitors:
                monitor.close(0)
            self._out.close()
        if self._control is not None:
            assert self._control_lock is not None
            async with self._control_lock:
                self._control.close()
        if self._in is not self._out:
            self._in.close(0)
        # term() waits for the lingering sockets; keep the loop free meanwhile.
        await asyncio.get_running_loop().run_in_executor(None, self._ctx.term)

    async def __aenter__(self) -> "AsyncClient":
        self._start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ----- public API -----

    async def submit(
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
    ) -> AsyncTask:
        """Sends the task; timeout bounds the send while the daemon pushes back."""
        self._start()
        submission = _common.prepare_submission(
            image, code, stdin=stdin, args=args, env=env, files=files, limits=limits, report=report
        )
        task = AsyncTask(self, submission.task_id)
        key = submission.task_id.encode("ascii")
        try:
            await self._send(submission.frame, timeout, (key, task))
        except BaseException:
            self._tasks.pop(key, None)
            raise
        return task

    async def run(
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
        """Runs one task to its end; on timeout the task is cancelled and TimeoutError raised."""
        started = time.monotonic()
        task = await self.submit(
            image, code, stdin=stdin, args=args, env=env, files=files, limits=limits,
            report=report, timeout=timeout,
        )
        remaining = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        try:
            return await task.wait(remaining)
        except TimeoutError:
            try:
                await task.cancel()
            except Exception as error:  # the timeout is the error to report
                _common.log.warning("could not cancel timed-out task %s: %s", task.id, error)
            raise

    async def cancel(self, task_id: str) -> None:
        """Sends CANCEL for a task id, as Client.cancel()."""
        self._start()
        await self._send_cancel(task_id)

    async def runners(self, timeout: Optional[float] = 5.0) -> list[dict[str, Any]]:
        """What the daemon runs, as Client.runners()."""
        self._start()
        request_id = protocol.new_task_id()
        key = request_id.encode("ascii")
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._runners[key] = answer
        try:
            await self._send(protocol.encode_runners(request_id), timeout)
            try:
                report = await asyncio.wait_for(asyncio.shield(answer), timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"no RUNNERS answer within {timeout} s") from None
            return _common.runners_list(request_id, report)
        finally:
            self._runners.pop(key, None)

    @property
    def connected(self) -> bool:
        return all(session.up for session in self._sessions)

    # ----- sending -----

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosed("the client is closed")

    async def _send(
        self, frame: bytes, timeout: Optional[float], register: Optional[tuple[bytes, AsyncTask]] = None
    ) -> None:
        assert self._state_changed is not None and self._send_lock is not None
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        # As in Client: no task is sent while its events could not come back.
        while not self._lossy.check_up(started, self.connect_timeout, time.monotonic()):
            self._check_open()
            await self._state_changed.wait(_common.POLL_SLICE_S)
        self._check_open()
        if register is not None:
            key, task = register
            self._tasks[key] = task  # before sending: the first event may come at once
            self._unsent.add(key)
        try:
            async with self._send_lock:
                while True:
                    self._check_open()
                    # Only into a live session: the DEALER (no IMMEDIATE) would queue
                    # the frame for a connection that may never come.
                    while not self._send_session.check_up(started, self.connect_timeout, time.monotonic()):
                        await self._state_changed.wait(_common.POLL_SLICE_S)
                        self._check_open()
                    try:
                        await self._out.send(frame, zmq.NOBLOCK)
                        return
                    except zmq.Again:
                        pass
                    now = time.monotonic()
                    if deadline is not None and now >= deadline:
                        raise TimeoutError(f"the daemon did not take the frame within {timeout} s")
                    await self._out.poll(int(_common.POLL_SLICE_S * 1000), zmq.POLLOUT)
        finally:
            if register is not None:
                self._unsent.discard(register[0])

    async def _send_cancel(self, task_id: str) -> None:
        frame = protocol.encode_cancel(task_id)
        if self._control is None:
            await self._send(frame, self.connect_timeout)
            return
        assert self._control_lock is not None
        deadline = time.monotonic() + self.connect_timeout
        async with self._control_lock:
            self._check_open()
            while True:
                while await self._control.poll(0, zmq.POLLIN):
                    change = _common.subscription_change(await self._control.recv(zmq.NOBLOCK))
                    if change is not None:
                        self._control_subscribed = change
                if self._control_subscribed:
                    break
                if time.monotonic() >= deadline:
                    raise Unreachable(self.control_endpoint or "", "control", self.connect_timeout)
                await self._control.poll(int(_common.POLL_SLICE_S * 1000), zmq.POLLIN)
            await self._control.send(frame)

    # ----- the reader -----

    async def _read_loop(self) -> None:
        """Events before monitor events, as in Client: a disconnect is acted on only after
        what the lost connection had delivered was read."""
        poller = zmq.asyncio.Poller()
        poller.register(self._in, zmq.POLLIN)
        for monitor in self._monitors:
            poller.register(monitor, zmq.POLLIN)
        while True:
            ready = dict(await poller.poll())
            if self._in in ready:
                await self._read_frames(1000)
            for monitor, session in zip(self._monitors, self._sessions):
                if monitor in ready:
                    await self._read_monitor(monitor, session)

    async def _read_frames(self, limit: Optional[int]) -> None:
        count = 0
        while limit is None or count < limit:
            try:
                frames = await self._in.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._deliver(frames)
            count += 1

    async def _read_monitor(self, monitor: zmq.asyncio.Socket, session: Session) -> None:
        assert self._state_changed is not None
        while True:
            try:
                frames = await monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            change = _common.monitor_change(frames, self.curve is not None)
            if change is None:
                continue
            if change.up is False:
                await self._read_frames(None)
            if session.apply(change) and session is self._lossy:
                self._connection_lost(session)
            self._state_changed.notify()

    def _connection_lost(self, session: Session) -> None:
        """Every task sent over the lost connection fails: its EXITED can no longer come."""
        lost = [key for key in self._tasks if key not in self._unsent]
        if lost:
            _common.log.warning(
                "lost the connection to %s (%s socket): %d pending task(s) fail with ConnectionLost",
                session.endpoint, session.role, len(lost),
            )
        for key in lost:
            task = self._tasks.pop(key)
            task._fail(ConnectionLost(session.endpoint, session.role, f"task {task.id} ended"))
            if self.endpoint is not None:
                # As in the threaded client (_links.DealerLink.tasks_lost): a SUBMIT still
                # in the DEALER's queue goes out on the next connection; this follows it.
                sent = self._out.send(protocol.encode_cancel(key), zmq.NOBLOCK)
                sent.add_done_callback(lambda future: future.cancelled() or future.exception())
        for answer in self._runners.values():
            if not answer.done():
                answer.set_exception(
                    ConnectionLost(session.endpoint, session.role, "the RUNNERS answer came")
                )

    def _deliver(self, frames: list[bytes]) -> None:
        event = _common.decode_frames(frames, self.counters)
        if event is None:
            return
        if event.kind == "runners":
            answer = self._runners.get(event.task_id)
            if answer is not None and not answer.done() and event.report is not None:
                answer.set_result(event.report)
                return
        task = self._tasks.get(event.task_id)
        if task is None:
            _common.note_unknown(event, self.counters)
            return
        if task._apply(event):
            self._tasks.pop(event.task_id, None)
