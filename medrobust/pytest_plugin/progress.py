"""Progress on long runs, on pytest's terminal: which display, where it writes, when specs begin and end.

* a terminal (stdout a TTY, no live logging): one tqdm bar on the line below pytest's, drawn past the
  output capture, erased before pytest writes the spec's outcome, so pytest's own lines stay as they were;
* not a TTY (CI logs), or ``--log-cli-level`` set: plain lines, throttled (:class:`~medrobust.run.progress.Throttle`);
* ``-q``, an xdist worker (whose terminal is the controller's), no terminal reporter: nothing on the
  terminal; the lines become records of the ``medrobust.progress`` logger.

Registered as ``medrobust-progress``: ``-p no:medrobust-progress`` turns it off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections import Counter
from typing import Any, Callable, Iterator, Optional

import pytest

from ..errors import OptionError
from ..run.progress import BarDisplay, LineDisplay, LogDisplay, Progress, Throttle, throttle_from_environment

__all__ = ["ProgressPlugin", "make_display"]

def _throttle() -> Throttle:
    try:
        return throttle_from_environment()
    except OptionError as exc:
        raise pytest.UsageError(str(exc)) from None


def _live_logging(config: pytest.Config) -> bool:
    """Whether pytest writes log records to the terminal as they come (``--log-cli-level``, ini ``log_cli``)."""
    try:
        return bool(config.getoption("log_cli_level", None) or config.getini("log_cli"))
    except (ValueError, KeyError):
        return False


class _Terminal:
    """pytest's terminal, written to past the output capture (as pytest's live logging does)."""

    def __init__(self, config: pytest.Config, reporter: Any) -> None:
        self.reporter = reporter
        self.capture = config.pluginmanager.get_plugin("capturemanager")
        self.writer = config.get_terminal_writer()
        self.item: Optional[pytest.Item] = None
        """The spec running (its file name is written again after progress lines)."""

    @contextlib.contextmanager
    def _uncaptured(self) -> Iterator[None]:
        if self.capture is None:
            yield
            return
        with self.capture.global_and_fixture_disabled():
            yield

    def line(self, text: str) -> None:
        """``text`` on a line of its own; pytest writes the next outcome after its file name again."""
        with self._uncaptured():
            self.reporter.write_line(text)
            self.reporter.flush()

    def resume(self) -> None:
        """After progress lines, pytest's file name again, where its outcome letters will follow (verbose
        output writes the test's whole line itself)."""
        if self.item is not None and self.reporter.verbosity <= 0 and self.reporter.showfspath:
            with self._uncaptured():  # as pytest's write_fspath_result, on the line the progress left empty
                self.reporter.write(os.path.relpath(self.item.path, self.reporter.startpath) + " ", flush=True)
                self.reporter.currentfspath = self.item.path

    def below(self, text: str) -> None:
        """``text`` on the line below the cursor's, the cursor put back where pytest left it."""
        column = self.writer.width_of_current_line
        with self._uncaptured():
            self.reporter.write_raw(f"\n\r{text}\x1b[K\x1b[A\x1b[{column + 1}G")
            self.reporter.flush()

    def width(self) -> int:
        return int(self.writer.fullwidth)


def make_display(config: pytest.Config) -> Any:
    """The display this session's terminal calls for (see the module's docstring)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if hasattr(config, "workerinput") or reporter is None or config.get_verbosity() < 0:
        return LogDisplay(_throttle())
    terminal = _Terminal(config, reporter)
    if not reporter.isatty() or _live_logging(config):
        return LineDisplay(terminal.line, _throttle(), resume=terminal.resume)
    encoding = str(getattr(sys.stdout, "encoding", "") or "").lower().replace("-", "")
    return BarDisplay(terminal.below, lambda: terminal.below(""), terminal.width, ascii=encoding != "utf8")


def _max_examples(item: pytest.Item) -> Optional[int]:
    """The examples a hypothesis spec runs at most (None: not a hypothesis test)."""
    function = getattr(item, "obj", None)
    if not getattr(function, "is_hypothesis_test", False):
        return None
    settings = getattr(function, "_hypothesis_internal_use_settings", None)
    if settings is None:
        import hypothesis

        settings = hypothesis.settings.default
    return int(settings.max_examples)


class ProgressPlugin:
    """Tells the run's :class:`~medrobust.run.progress.Progress` where specs begin and end.

    A YAML file's items (one per composition) make one spec; a Python spec is one test, of at most
    ``max_examples`` compositions under hypothesis. Totals count the samples of each composition and
    arm, and the clean answers where they are not yet known.

    Args:
        ctx: The run context; its ``progress`` is set here.
        is_spec: Whether an item is a medrobust spec.
        display: Where progress shows (default: :func:`make_display`).
    """

    def __init__(self, config: pytest.Config, ctx: Any, is_spec: Callable[[pytest.Item], bool],
                 display: Any = None) -> None:
        self.ctx = ctx
        self.is_spec = is_spec
        self.display = display if display is not None else make_display(config)
        self.progress = Progress(self.display)
        ctx.progress = self.progress
        ctx.model_calls.on_wait = self.progress.tick  # a long model call still moves the clock
        self.per_file: Counter[str] = Counter()
        self.ran: Counter[str] = Counter()
        self.worker = hasattr(config, "workerinput")

    def pytest_sessionstart(self) -> None:
        """The plugins loaded, once pytest's logging listens (it does not yet when they load)."""
        from ..run.plugins import loaded_plugins

        logging.getLogger("medrobust.plugins").info("%s", loaded_plugins(self.ctx.host))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """How many items each YAML file runs here (after ``-k``, ``-m`` and the like)."""
        if not self.worker:  # a worker runs only some of the items it collected
            self.per_file = Counter(str(item.path) for item in session.items if getattr(item, "medrobust_spec", False))

    def _begin(self, item: pytest.Item) -> tuple[str, int]:
        """Starts (or goes on with) the item's spec; returns its key and how many items it has."""
        samples = self._samples()
        arms = 1 if self.ctx.options.calibrator == "none" else 2
        clean = 0 if self._clean_known() else 1
        if getattr(item, "medrobust_spec", False):
            key, name, count = str(item.path), item.path.name, self.per_file.get(str(item.path), 1)
            if self.worker or count == 1:
                key, name, count = item.nodeid, f"{item.path.name}::{item.name}", 1
            total = (count + clean) * samples * arms if samples else None
            self.progress.begin_spec(key, name, total, compositions=count + clean)
            return key, count
        examples = _max_examples(item)
        total = (examples + clean) * samples * arms if examples and samples else None
        self.progress.begin_spec(item.nodeid, item.name, total, bounded=True,
                                 compositions=examples + clean if examples else None)
        return item.nodeid, 1

    def _samples(self) -> Optional[int]:
        try:
            return len(self.ctx.samples)
        except Exception:  # the spec reports it
            return None

    def _clean_known(self) -> bool:
        return bool(self.ctx.loaded) and "clean" in self.ctx.evaluator.evaluations

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        if not self.is_spec(item):
            return (yield)
        terminal = getattr(getattr(self.display, "resume", None), "__self__", None)
        if isinstance(terminal, _Terminal):
            terminal.item = item
        key, count = self._begin(item)
        try:
            return (yield)
        finally:
            self.ran[key] += 1
            if self.ran[key] >= count:
                self.progress.end_spec()
            self.progress.pause()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        self.progress.end_spec()
