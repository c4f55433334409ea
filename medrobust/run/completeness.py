"""Completeness: did the run run every spec it collected, and if not, which and why not?

A run that did not run every collected spec (``-k``, ``-m``, ``--lf``,
``--deselect``, ``-x``, ``--maxfail``, Ctrl-C, a skip) is PARTIAL: whatever the
specs that ran found, it never certifies PASS.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Optional

from .records import SpecRecord

__all__ = ["RunScope", "run_scope"]


@dataclasses.dataclass(frozen=True)
class RunScope:
    """What was collected, what ran, and how the selection was made.

    Attributes:
        collected: Spec node ids collected, before any deselection.
        deselected: Specs deselected (``-k``, ``-m``, ``--lf``, ``--deselect``).
        skipped: Specs that were selected but skipped.
        not_run: Specs selected that never ran (the session stopped first).
        interrupted: Why the session stopped early, or None.
        selection: The options that shaped the selection, as given.
    """

    collected: tuple[str, ...]
    deselected: tuple[str, ...]
    skipped: tuple[str, ...]
    not_run: tuple[str, ...]
    interrupted: Optional[str]
    selection: Mapping[str, Any]

    @property
    def complete(self) -> bool:
        """Every collected spec ran."""
        return not (self.deselected or self.skipped or self.not_run or self.interrupted)

    def reason(self) -> str:
        """One sentence saying what did not run, empty for a complete run."""
        if self.complete:
            return ""
        parts = []
        ran = len(self.collected) - len(self.deselected) - len(self.skipped) - len(self.not_run)
        if self.deselected:
            parts.append(f"{len(self.deselected)} deselected")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.not_run:
            parts.append(f"{len(self.not_run)} not run")
        how = ", ".join(f"{k} {v}" if v is not True else k for k, v in self.selection.items())
        stop = f"; the session stopped early ({self.interrupted})" if self.interrupted else ""
        return (f"Only {ran} of the {len(self.collected)} collected specs ran ({', '.join(parts) or 'none missing'})"
                f"{f' by {how}' if how else ''}{stop}.")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"complete": self.complete, "collected": len(self.collected), "deselected": list(self.deselected),
                "skipped": list(self.skipped), "not_run": list(self.not_run), "interrupted": self.interrupted,
                "selection": dict(self.selection), "reason": self.reason()}


def run_scope(collected: Iterable[str], deselected: Iterable[str], specs: Mapping[str, SpecRecord],
              interrupted: Optional[str] = None, selection: Optional[Mapping[str, Any]] = None) -> RunScope:
    """The scope of a finished run from what was collected and deselected and the spec records.

    Args:
        collected: Node ids of every spec collected (before deselection).
        deselected: Node ids of the specs deselected.
        specs: The spec records (a spec with no record, or outcome ``not run``, did not run).
        interrupted: Why the session stopped early, if it did.
        selection: The selecting options as given (``-k``, ``-m``, ...).
    """
    collected_ids = sorted(set(collected) | set(specs))
    gone = set(deselected)
    selected = [n for n in collected_ids if n not in gone]
    skipped = [n for n in selected if n in specs and specs[n].outcome == "skipped"]
    not_run = [n for n in selected if n not in specs or specs[n].outcome == "not run"]
    return RunScope(tuple(collected_ids), tuple(sorted(gone & set(collected_ids))), tuple(skipped), tuple(not_run),
                    interrupted, dict(selection or {}))
