"""Every call to the model on one worker thread, one call at a time, each bounded in time.

A model that hangs must not hang the run, and Ctrl-C must not wait for the model.
So the caller never runs ``answer`` itself: it hands the call to the run's one
worker thread (a daemon, so a call that never returns does not keep the process
alive) and waits for it at most the call's time limit, ``--answer-timeout`` seconds
for each sample in the call.

A call that runs past its limit cannot be stopped (Python cannot kill a thread),
only abandoned: it is reported as :class:`~medrobust.errors.ModelUnavailable`
(its samples become error rows) and, while it has not returned, every later
call is refused at once rather than started beside it, so the model is never
called from two threads at a time. If the abandoned call does return, the
model is asked again from the next call on. Ctrl-C while waiting closes the
calls for good: after an interrupt the model is never asked again.
"""

from __future__ import annotations

import queue
import threading
import time
import weakref
from typing import Any, Callable, Optional

from ..errors import ModelUnavailable

__all__ = ["ModelCalls", "DEFAULT_ANSWER_TIMEOUT", "INTERRUPTED"]

DEFAULT_ANSWER_TIMEOUT = 60.0
"""Seconds a model call may take for each sample in it (``--answer-timeout``; 0: no limit).

Generous on purpose, it bounds a hang without cutting off a slow model: a 7B
LLaVA on a CPU spends 10 to 30 s a sample (its 576 image tokens), and a served
model's own limits (``timeout=60`` a request, ``retries=4``) come to about 40 s
a sample at worst once ``concurrency=8`` requests share a full batch. Scaled by
the call's size, so that ``--batch-size`` does not change what counts as slow.
At the default ``--batch-size`` of 64 a hang is found within the hour; a smaller
batch finds it sooner.
"""

_IDLE_CHECK_SECONDS = 5.0
"""How often an idle worker checks whether its :class:`ModelCalls` still exists."""

INTERRUPTED = "run interrupted"
"""Why calls are refused after Ctrl-C."""


class _Call:
    """One call handed to the worker, with its outcome."""

    def __init__(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.function = function
        self.args = args
        self.done = threading.Event()
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self.seconds = 0.0

    def run(self) -> None:
        started = time.perf_counter()
        try:
            self.result = self.function(*self.args)
        except BaseException as exc:  # handed back to the caller, whatever it is
            self.error = exc
        finally:
            self.seconds = time.perf_counter() - started
            self.done.set()


class ModelCalls:
    """The run's calls to its model: one worker thread, one call at a time, each with a time limit.

    Args:
        timeout: Seconds a call may take for each sample in it; None or 0: no limit.
    """

    def __init__(self, timeout: Optional[float] = None) -> None:
        self.timeout = float(timeout) if timeout and timeout != float("inf") else None
        self._lock = threading.Lock()
        self._calls: "queue.SimpleQueue[_Call]" = queue.SimpleQueue()
        self._worker: Optional[threading.Thread] = None
        self._abandoned: Optional[tuple[_Call, str]] = None
        self._closed: Optional[str] = None
        self.waiting = False
        """Whether a caller is waiting on the model right now (Ctrl-C then interrupts the call)."""
        self.on_wait: Optional[Callable[[], None]] = None
        """Called about every :attr:`heartbeat` seconds while a caller waits on the model (a progress display
        shows the time going by during a long call); what it raises is ignored."""
        self.heartbeat = 1.0
        self.seconds = 0.0
        """Seconds the model spent in the calls made so far, timed on the worker (a call abandoned at its
        limit counts the limit): the hand-over between threads is not the model's time."""

    @property
    def unavailable(self) -> Optional[str]:
        """Why the model cannot be asked now (closed, or still in a call that timed out), or None."""
        with self._lock:
            return self._refusal()

    @property
    def interrupted(self) -> bool:
        """Whether Ctrl-C closed the calls."""
        return self._closed == INTERRUPTED

    def close(self, reason: str = INTERRUPTED) -> None:
        """Refuse every later call, giving ``reason`` (the first reason given stays)."""
        with self._lock:
            self._closed = self._closed or reason

    def limit(self, samples: int) -> Optional[float]:
        """The time limit in seconds of a call about ``samples`` samples (None: none)."""
        if self.timeout is None:
            return None
        return min(self.timeout * max(1, samples), threading.TIMEOUT_MAX)

    def call(self, function: Callable[..., Any], samples: list[Any]) -> Any:
        """``function(samples)`` on the worker thread, within :meth:`limit` of ``len(samples)``.

        Raises:
            ModelUnavailable: The call timed out, or was not made (see :attr:`unavailable`).
            BaseException: Whatever ``function`` raised.
        """
        if threading.current_thread() is self._worker:  # a call made from within a call (a calibrator's)
            return function(samples)
        with self._lock:
            refusal = self._refusal()
            if refusal is not None:
                raise ModelUnavailable(f"not asked: {refusal}")
            job = _Call(function, (samples,))
            self._start_worker()
            self._calls.put(job)
        limit = self.limit(len(samples))
        self.waiting = True
        try:
            finished = self._wait(job, limit)
        except BaseException:  # Ctrl-C: the call is abandoned and the model is not asked again
            self.close(INTERRUPTED)
            raise
        finally:
            self.waiting = False
        if not finished:
            message = (f"model call timed out after {limit:g} s (--answer-timeout {self.timeout:g} s a sample, "
                       f"{len(samples)} in the call)")
            with self._lock:
                self._abandoned = (job, message)
            self.seconds += limit or 0.0
            raise ModelUnavailable(message)
        self.seconds += job.seconds
        if job.error is not None:
            raise job.error
        return job.result

    def _wait(self, job: _Call, limit: Optional[float]) -> bool:
        """Whether ``job`` finished within ``limit`` seconds, calling :attr:`on_wait` while it runs."""
        if self.on_wait is None:
            return job.done.wait(limit)
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            left = self.heartbeat if deadline is None else min(self.heartbeat, deadline - time.monotonic())
            if job.done.wait(max(0.0, left)):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            try:
                self.on_wait()
            except Exception:  # a display's trouble is not the model's
                pass

    def _refusal(self) -> Optional[str]:
        if self._closed is not None:
            return self._closed
        if self._abandoned is not None:
            job, message = self._abandoned
            if not job.done.is_set():
                return f"the model has not returned from an earlier call that {message.removeprefix('model call ')}"
            self._abandoned = None  # it came back: the model can be asked again
        return None

    def _start_worker(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=_serve, args=(self._calls, weakref.ref(self)),
                                             name="medrobust-model", daemon=True)
            self._worker.start()


def _serve(calls: "queue.SimpleQueue[_Call]", owner: "weakref.ref[ModelCalls]") -> None:
    """The worker: runs the calls in turn; ends once idle and its :class:`ModelCalls` is gone."""
    while True:
        try:
            job = calls.get(timeout=_IDLE_CHECK_SECONDS)
        except queue.Empty:
            if owner() is None:
                return
            continue
        job.run()
        del job
