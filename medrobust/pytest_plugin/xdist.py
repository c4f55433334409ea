"""Under pytest-xdist: workers send their spec records and facts, the controller gathers them."""

from __future__ import annotations

from typing import Any

import pytest

from ..run.context import RunContext
from ..run.records import SpecRecord

__all__ = ["SPEC_PROPERTY", "FACTS_KEY", "XdistController"]

SPEC_PROPERTY = "medrobust_spec"
"""The ``user_properties`` name under which a worker attaches a spec record to its report."""
FACTS_KEY = "medrobust_facts"
"""The ``workeroutput`` key under which a worker sends what it learnt about the run."""


class XdistController:
    """Registered on the controller of a run: gathers what xdist workers send."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.remote_facts: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect the spec records the workers attached to their reports."""
        for name, value in getattr(report, "user_properties", ()):
            if name == SPEC_PROPERTY and isinstance(value, dict):
                self.ctx.specs[value["nodeid"]] = SpecRecord.from_json(value)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Receive what a worker learnt about the model and the data."""
        facts = getattr(node, "workeroutput", {}).get(FACTS_KEY)
        if facts:
            self.remote_facts.append(facts)
