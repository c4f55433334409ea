"""Progress of a run: answers done and to do, per spec and per composition, with rate and ETA.

The counts come from the evaluators (:class:`~medrobust.run.evaluate.Evaluator`), once per model
batch and once per composition (its journal hits), never per sample. A display shows them:

* :class:`BarDisplay`: one tqdm bar (``tqdm.format_meter``), for a terminal;
* :class:`LineDisplay`: plain lines, throttled by :class:`Throttle`, for CI logs (no carriage return);
* :class:`LogDisplay`: the same lines as records of the ``medrobust.progress`` logger (xdist workers, ``-q``).

Where the text goes (a terminal under pytest's capture, a log) is the caller's: this module only
counts, decides when and formats.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from typing import IO, Any, Callable, Optional, Protocol

from ..errors import OptionError
from .progress_format import Snapshot, format_bar, format_done, format_line

__all__ = ["Progress", "Snapshot", "Throttle", "BarDisplay", "LineDisplay", "LogDisplay", "format_line",
           "format_done", "format_bar", "NO_PROGRESS", "stream_display",
           "throttle_from_environment", "INTERVAL_VARIABLE"]

LOG = logging.getLogger("medrobust.progress")


class Throttle:
    """When a plain line is due: never more than one every ``every`` seconds (the first ``first`` seconds
    after the spec starts), and then only once the spec advanced by ``step`` of its answers since the
    last line, or ``at_most`` seconds passed without one.

    Args:
        first: Seconds from the spec's start before its first line (a short spec prints none).
        every: Seconds between two lines at least.
        step: The part of the spec's answers that makes a line due.
        at_most: Seconds after which a line is due whatever the progress (a spec of unknown size).
    """

    def __init__(self, first: float = 10.0, every: float = 10.0, step: float = 0.10, at_most: float = 60.0) -> None:
        self.first, self.every, self.step, self.at_most = first, every, step, at_most
        self._started = 0.0
        self._last: Optional[float] = None
        self._last_fraction = 0.0
        self.lines = 0
        """Lines let through since :meth:`start`."""

    def start(self, now: float) -> None:
        """A new spec begins at ``now``."""
        self._started, self._last, self._last_fraction, self.lines = now, None, 0.0, 0

    def due(self, now: float, fraction: Optional[float]) -> bool:
        """Whether a line is due at ``now`` with the spec ``fraction`` done (None: unknown); counts it if so."""
        if self._last is None:
            ready = now - self._started >= self.first
        else:
            since = now - self._last
            advanced = fraction is not None and fraction - self._last_fraction >= self.step - 1e-9
            ready = since >= self.every and (advanced or since >= self.at_most)
        if ready:
            self._last, self._last_fraction = now, fraction if fraction is not None else self._last_fraction
            self.lines += 1
        return ready


INTERVAL_VARIABLE = "MEDROBUST_PROGRESS_INTERVAL"
"""Seconds between two plain progress lines at least (default 10; the first comes as late)."""


def throttle_from_environment() -> Throttle:
    """The :class:`Throttle` that :data:`INTERVAL_VARIABLE` asks for (the default where it is not set).

    Raises:
        OptionError: The variable is not a number of seconds >= 0.
    """
    text = os.environ.get(INTERVAL_VARIABLE, "").strip()
    if not text:
        return Throttle()
    try:
        seconds = float(text)
        if not 0 <= seconds < float("inf"):
            raise ValueError
    except ValueError:
        raise OptionError(f"{INTERVAL_VARIABLE}={text!r}: give the seconds between two progress lines, a number "
                          f">= 0 (default 10)") from None
    return Throttle(first=seconds, every=seconds, at_most=6 * seconds)


class Display(Protocol):
    """What shows a spec's progress."""

    def start(self, now: float) -> None: ...

    def show(self, snapshot: Snapshot, now: float) -> None: ...

    def clear(self) -> None: ...

    def finish(self, snapshot: Snapshot) -> None: ...


class LineDisplay:
    """Plain lines through ``write`` (no carriage return), at most as often as ``throttle`` allows, and a
    last line for a spec that showed any."""

    def __init__(self, write: Callable[[str], None], throttle: Optional[Throttle] = None,
                 resume: Optional[Callable[[], None]] = None) -> None:
        self.write = write
        self.throttle = throttle or Throttle()
        self.resume = resume
        """Called by :meth:`clear` after lines were written (pytest writes its file name again)."""
        self._wrote = False

    def _line(self, text: str) -> None:
        self.write(text)
        self._wrote = True

    def start(self, now: float) -> None:
        self.throttle.start(now)

    def show(self, snapshot: Snapshot, now: float) -> None:
        if self.throttle.due(now, snapshot.fraction):
            self._line(format_line(snapshot))

    def clear(self) -> None:
        if self._wrote and self.resume is not None:
            self.resume()
        self._wrote = False

    def finish(self, snapshot: Snapshot) -> None:
        if self.throttle.lines:
            self._line(format_done(snapshot))


class LogDisplay(LineDisplay):
    """The plain lines as INFO records of the ``medrobust.progress`` logger (nothing formatted when
    nobody listens)."""

    def __init__(self, throttle: Optional[Throttle] = None) -> None:
        super().__init__(lambda line: LOG.info("%s", line.removeprefix("medrobust: ")), throttle)

    def show(self, snapshot: Snapshot, now: float) -> None:
        if LOG.isEnabledFor(logging.INFO):
            super().show(snapshot, now)

    def finish(self, snapshot: Snapshot) -> None:
        pass  # the spec's last record is :meth:`Progress.end_spec`'s, whatever the display


class BarDisplay:
    """One bar line through ``draw`` (``erase`` removes it), redrawn at most every ``refresh`` seconds,
    shown only once a spec has run ``delay`` seconds.

    Args:
        draw: Shows a line of text in place of the previous one.
        erase: Removes the line.
        width: The line's width in characters (asked before each drawing: terminals are resized).
        ascii: Draw the bar with ASCII characters only.
    """

    def __init__(self, draw: Callable[[str], None], erase: Callable[[], None], width: Callable[[], int],
                 ascii: bool = False, delay: float = 1.0, refresh: float = 0.2) -> None:
        self.draw, self.erase, self.width, self.ascii = draw, erase, width, ascii
        self.delay, self.refresh = delay, refresh
        self._started = 0.0
        self._drawn: Optional[float] = None
        self.visible = False

    def start(self, now: float) -> None:
        self._started, self._drawn = now, None

    def show(self, snapshot: Snapshot, now: float) -> None:
        if now - self._started < self.delay or (self._drawn is not None and now - self._drawn < self.refresh):
            return
        self._drawn = now
        self.draw(format_bar(snapshot, max(20, self.width() - 1), self.ascii))
        self.visible = True

    def clear(self) -> None:
        if self.visible:
            self.erase()
            self.visible = False
        self._drawn = None

    def finish(self, snapshot: Snapshot) -> None:
        self.clear()


def stream_display(stream: IO[str]) -> Any:
    """A display on ``stream`` outside pytest (``medrobust evaluate``): a bar on a terminal, plain lines
    otherwise."""
    if getattr(stream, "isatty", lambda: False)():
        def draw(text: str) -> None:
            stream.write(f"\r{text}\x1b[K")
            stream.flush()

        encoding = str(getattr(stream, "encoding", "") or "").lower().replace("-", "")
        return BarDisplay(draw, lambda: draw(""), lambda: shutil.get_terminal_size().columns,
                          ascii=encoding != "utf8")
    return LineDisplay(lambda line: print(line, file=stream, flush=True), throttle_from_environment())


class _Composition:
    """One composition being answered: :meth:`advance` after each model batch, :meth:`close` at its end."""

    def __init__(self, progress: "Progress", label: str, total: int, journal: int) -> None:
        self._progress, self.label, self.total, self.done = progress, label, total, journal
        self._started = progress.clock()

    def advance(self, answers: int) -> None:
        """``answers`` more given by the model."""
        self.done += answers
        self._progress._advance(self, answers)

    def close(self) -> None:
        """The composition is answered."""
        self._progress._close(self)


class _NoComposition:
    def advance(self, answers: int) -> None:
        pass

    def close(self) -> None:
        pass


class _Arm:
    """The progress of one arm's evaluator (``model``, ``calibrated`` or ``uncalibrated``)."""

    def __init__(self, progress: Optional["Progress"], arm: str = "model") -> None:
        self._progress, self.arm = progress, arm

    def composition(self, key: str, total: int, journal: int = 0) -> "_Composition | _NoComposition":
        """A composition starts: ``total`` answers, ``journal`` of them read back from the journal."""
        if self._progress is None or self._progress.current is None:
            return _NoComposition()
        label = key if self.arm in ("model", "calibrated") else f"{key} ({self.arm})"
        return self._progress._open(key, label, total, journal)


NO_PROGRESS = _Arm(None)
"""An evaluator's progress when nothing shows it (probes, ``medrobust evaluate`` without a display)."""


class Progress:
    """The run's progress, spec by spec, shown through ``display`` (None: counted, shown nowhere).

    Args:
        display: Where it shows.
        clock: Seconds, monotonic (tests give their own).
    """

    def __init__(self, display: Optional[Display] = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.display = display
        self.clock = clock
        self.current: Optional[Snapshot] = None
        self.key: Optional[str] = None
        self._keys: set[str] = set()
        self._open_since: Optional[float] = None

    def arm(self, name: str = "model") -> _Arm:
        """What an evaluator of arm ``name`` reports to."""
        return _Arm(self, name)

    def begin_spec(self, key: str, name: str, total: Optional[int] = None, bounded: bool = False,
                   compositions: Optional[int] = None) -> None:
        """Spec ``key`` (shown as ``name``) starts, or goes on when it is the current one (a YAML file's next
        item): ``total`` answers expected (an upper bound if ``bounded``), in ``compositions``."""
        if key == self.key:
            return
        self.end_spec()
        self.key, self._keys = key, set()
        self.current = Snapshot(name, total=total, bounded=bounded, compositions_total=compositions)
        if self.display is not None:
            self.display.start(self.clock())

    def pause(self) -> None:
        """Between two items of a spec: the display steps aside (pytest writes the outcome)."""
        if self.display is not None:
            self.display.clear()

    def end_spec(self) -> None:
        """The current spec is over: its last line, where it showed any."""
        snapshot = self.current
        self.current, self.key = None, None
        if snapshot is None:
            return
        if self._open_since is not None:  # a composition cut short (an error, Ctrl-C): its time counts
            snapshot.seconds += self.clock() - self._open_since
            self._open_since = None
        LOG.info("%s", format_done(snapshot).removeprefix("medrobust: "))
        if self.display is not None:
            self.display.finish(snapshot)

    def tick(self) -> None:
        """The model is still in a call: the display shows the time going by (a long call's elapsed time, the
        line due after a minute without one)."""
        if self._open_since is not None:
            self._show()

    def _open(self, key: str, label: str, total: int, journal: int) -> _Composition:
        s = self.current
        assert s is not None
        if key not in self._keys:
            self._keys.add(key)
            s.compositions += 1
        s.composition, s.composition_total, s.composition_answers, s.composition_journal = label, total, journal, journal
        s.answers += journal
        s.journal += journal
        if s.total is not None and s.answers > s.total:
            s.total = None  # more than expected (hypothesis shrinking): the bound no longer holds
        handle = _Composition(self, label, total, journal)
        self._open_since = handle._started
        self._show()
        return handle

    def _advance(self, handle: _Composition, answers: int) -> None:
        s = self.current
        if s is None:
            return
        s.answers += answers
        s.asked += answers
        s.composition_answers = handle.done
        if s.total is not None and s.answers > s.total:
            s.total = None
        self._show()

    def _close(self, handle: _Composition) -> None:
        now = self.clock()
        if self.current is not None and self._open_since is not None:
            self.current.seconds += now - self._open_since
        self._open_since = None
        LOG.debug("%s: %d/%d answers, %d from the journal, in %.1f s", handle.label, handle.done, handle.total,
                  self.current.composition_journal if self.current else 0, now - handle._started)

    def _show(self) -> None:
        if self.display is None or self.current is None:
            return
        now = self.clock()
        snapshot = self.current
        if self._open_since is not None:  # the open composition's time counts for the rate
            snapshot = dataclasses.replace(snapshot, seconds=snapshot.seconds + now - self._open_since)
        self.display.show(snapshot, now)
