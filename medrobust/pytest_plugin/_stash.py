"""Where the pytest plugin keeps the run's state: ``config.stash``, never module globals."""

from __future__ import annotations

from typing import Any

import pytest

from ..run.context import RunContext

__all__ = ["run_key", "run_context", "is_active"]

run_key = pytest.StashKey[RunContext]()


def is_active(config: pytest.Config) -> bool:
    """Whether medrobust set up a run in this pytest session."""
    return run_key in config.stash


def run_context(config: Any) -> RunContext:
    """The session's :class:`~medrobust.run.context.RunContext`."""
    return config.stash[run_key]
