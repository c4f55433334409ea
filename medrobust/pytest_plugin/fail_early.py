"""Fail early, fail short: what would fail every spec is reported once, in a few lines, and stops the run.

Once the specs are collected (and only when some are), the dataset, the model and the
calibrator are loaded (:meth:`~medrobust.run.context.RunContext.preflight`): one that cannot
load stops the session as a usage error before the first spec runs. A model that breaks the
``answer`` contract, or a part that failed to load in an xdist worker, fails the spec it
happened in with its message alone (no traceback) and stops the session; what was computed
before stays in the journal and the certificate, which says why the run stopped.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

import pytest

from ..errors import MedrobustError, ModelOutputError
from ..run.context import RunContext

__all__ = ["FailEarly"]

_FAILED = {"samples": "the dataset could not be loaded", "calibrated model": "the calibrator could not be fitted",
           "evaluator": "the answer journal could not be opened", "journal": "the answer journal could not be opened",
           "baseline evaluator": "the answer journal could not be opened"}
"""What went wrong when a part of the run context failed to build (default: it could not be loaded)."""


class FailEarly:
    """Registered by the pytest plugin for the session's run.

    Args:
        ctx: The run context.
        is_spec: Whether a collected item is a medrobust spec.
    """

    def __init__(self, ctx: RunContext, is_spec: Callable[[pytest.Item], bool]) -> None:
        self.ctx = ctx
        self.is_spec = is_spec

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Load what every spec needs, when some spec is to run; a failure is a usage error."""
        config = session.config
        if config.option.collectonly or hasattr(config, "workerinput"):
            return  # an xdist worker reports a failed load once, from its first spec (below)
        if not any(self.is_spec(i) for i in session.items):
            return
        try:
            self.ctx.preflight()
        except MedrobustError as exc:
            raise pytest.UsageError(str(exc)) from None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
        report = yield
        exc = call.excinfo.value if call.excinfo is not None else None
        reason = self._stops(exc)
        if reason is not None and report.failed:
            report.longrepr = f"{type(exc).__name__}: {exc}\n{reason}"
            if not item.session.shouldstop:
                item.session.shouldstop = f"medrobust: {reason}"
        return report

    def _stops(self, exc: Optional[BaseException]) -> Optional[str]:
        """Why ``exc`` stops the run, or None when only its spec fails."""
        if isinstance(exc, ModelOutputError):
            return ("the model broke the answer(samples) -> list[str] contract; the run stops here "
                    "(answers given so far are kept)")
        part = self.ctx.failed_part(exc) if exc is not None else None
        if part is not None:
            return f"{_FAILED.get(part, f'the {part} could not be loaded')}; the run stops here"
        return None
