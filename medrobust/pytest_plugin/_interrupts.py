"""Ctrl-C at the session's end: the certificate is still written, from what was answered.

While the controller gathers the run's facts and writes the certificate, Ctrl-C
is handled here instead of raising ``KeyboardInterrupt`` wherever Python happens
to be:

* if the specs were not interrupted already, the first Ctrl-C closes the run's
  model calls, so the model is not asked again; if an evidence probe is waiting
  on the model, that wait ends at once (the probes not finished are recorded as
  skipped, which makes the certificate PARTIAL);
* the next Ctrl-C is held, with a note: without the model, what is left takes
  seconds at most;
* one more abandons the certificate (``KeyboardInterrupt``), but never while its
  files are being written: then it takes effect once they are.

The answer journal needs nothing from here: each batch of answers is one SQLite
transaction, committed or rolled back whole.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from types import FrameType
from typing import Any, Iterator, Optional

__all__ = ["HeldInterrupts"]


class HeldInterrupts:
    """A context manager that holds Ctrl-C as the module describes (main thread, default handler only).

    Args:
        calls: The run's :class:`~medrobust.run.model_calls.ModelCalls`.
    """

    def __init__(self, calls: Any) -> None:
        self._calls = calls
        self._held = 0
        self._writing = False
        self._pending = False
        self._previous: Any = None

    def __enter__(self) -> "HeldInterrupts":
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Files are being written: every Ctrl-C waits until they are."""
        self._writing = True
        try:
            yield
        finally:
            self._writing = False
        if self._pending:
            raise KeyboardInterrupt

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if not self._calls.interrupted:
            self._calls.close()
            _note("interrupted; the model is not asked again, the certificate is written from what was answered")
            if self._calls.waiting:  # an evidence probe waits on the model: stop waiting
                raise KeyboardInterrupt
            return
        self._held += 1
        if self._held == 1:
            _note("writing the PARTIAL certificate from what was answered, without asking the model again; "
                  "it takes seconds at most (Ctrl-C again to abandon it)")
        elif self._writing:
            self._pending = True
        else:
            raise KeyboardInterrupt


def _note(text: str) -> None:
    sys.stderr.write(f"\nmedrobust: {text}\n")
    sys.stderr.flush()
