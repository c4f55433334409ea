"""What SMS did to a question: the agents' steps, as plain records."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["SMSStep", "SMSRecord", "round4"]


def round4(x: float) -> float:
    """A score as recorded: a float rounded to 4 decimals."""
    return round(float(x), 4)


@dataclasses.dataclass
class SMSStep:
    """One agent's step: who, in which round, what it saw and said, and why."""

    agent: str          # "assessor" | "corrector" | "reviewer"
    round: int          # 0 for the assessor, 1.. for corrector/reviewer rounds
    input: str
    output: str
    decision: str       # assessor: "clean"/"noisy"; corrector: "rewrite"/"no-rewrite"; reviewer: "accept"/"reject"
    scores: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class SMSRecord:
    """Everything SMS did to one question (JSON-serialisable through :meth:`to_json`)."""

    question: str
    final: str
    steps: list[SMSStep] = dataclasses.field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.final != self.question

    @property
    def assessed_clean(self) -> bool:
        return bool(self.steps) and self.steps[0].agent == "assessor" and self.steps[0].decision == "clean"

    @property
    def rounds(self) -> int:
        return max((s.round for s in self.steps), default=0)

    def to_json(self) -> dict[str, Any]:
        return {"question": self.question, "final": self.final, "changed": self.changed,
                "steps": [dataclasses.asdict(s) for s in self.steps]}
