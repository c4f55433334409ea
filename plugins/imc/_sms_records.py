"""What SMS did to a question: the agents' steps, as plain records."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["SMSStep", "SMSRecord", "round4", "bounded", "MAX_RECORDED_CHARS", "MAX_RECORDED_WORDS"]

MAX_RECORDED_CHARS = 400
"""Longest text (a generated reply, a prompt) kept whole in a step; longer ones are cut and say so."""
MAX_RECORDED_WORDS = 64
"""Most words whose scores an assessor step keeps."""


def round4(x: float) -> float:
    """A score as recorded: a float rounded to 4 decimals."""
    return round(float(x), 4)


def bounded(text: str, limit: int = MAX_RECORDED_CHARS) -> str:
    """``text`` as recorded: at most ``limit`` characters, a cut one ending ``... [+N characters]``."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [+{len(text) - limit} characters]"


@dataclasses.dataclass
class SMSStep:
    """One agent's step: who, in which round, what it saw and said, and why."""

    agent: str          # "assessor" | "corrector" | "reviewer"
    round: int          # 0 for the assessor, 1.. for corrector/reviewer rounds
    input: str
    output: str
    # assessor: "clean"/"noisy"/"abstain"; corrector: "rewrite"/"no-rewrite"/"abstain";
    # reviewer: "accept"/"reject"/"send-back"/"abstain"
    decision: str
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
