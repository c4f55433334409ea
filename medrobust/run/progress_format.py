"""Plain text of a run's progress: a spec's numbers (:class:`Snapshot`), its plain lines and its tqdm bar."""

from __future__ import annotations

import dataclasses
from typing import Optional

__all__ = ["Snapshot", "format_line", "format_done", "format_bar"]


@dataclasses.dataclass
class Snapshot:
    """Where a spec stands (plain numbers; the formatters read only this)."""

    spec: str
    """The spec's name (a test's name, or a YAML file's)."""
    answers: int = 0
    """Answers done in the spec: asked now or read from the journal."""
    total: Optional[int] = None
    """Answers the spec needs (None: unknown); an upper bound when :attr:`bounded`."""
    bounded: bool = False
    """Whether :attr:`total` is at most what is needed (a hypothesis spec: repeated compositions are cached)."""
    asked: int = 0
    """Answers the model gave in the spec (the rate counts only these)."""
    journal: int = 0
    """Answers read back from the journal in the spec."""
    seconds: float = 0.0
    """Seconds spent inside compositions (model loading and calibrator fitting are not counted)."""
    compositions: int = 0
    """Compositions started in the spec (each once, whatever the arms)."""
    compositions_total: Optional[int] = None
    composition: str = ""
    """The composition being answered (with its arm, where a calibrator runs)."""
    composition_answers: int = 0
    composition_total: int = 0
    composition_journal: int = 0

    @property
    def rate(self) -> Optional[float]:
        """Answers the model gives a second (None before the first)."""
        return self.asked / self.seconds if self.asked and self.seconds > 0 else None

    @property
    def fraction(self) -> Optional[float]:
        """The part of the spec done, in [0, 1] (None: total unknown)."""
        return min(1.0, self.answers / self.total) if self.total else None

    @property
    def eta(self) -> Optional[float]:
        """Seconds left, at the current rate, for the spec (its composition when its total is unknown)."""
        rate = self.rate
        if rate is None:
            return None
        left = (self.total - self.answers) if self.total else (self.composition_total - self.composition_answers)
        return max(0, left) / rate


def _interval(seconds: float) -> str:
    from tqdm import tqdm

    return str(tqdm.format_interval(seconds))


def _of(snapshot: Snapshot) -> str:
    if snapshot.total is None:
        return f"{snapshot.answers:,} answers"
    return f"{snapshot.answers:,}{' of at most ' if snapshot.bounded else '/'}{snapshot.total:,} answers"


def _composition(snapshot: Snapshot) -> str:
    k = f"{snapshot.compositions}/{snapshot.compositions_total}" if snapshot.compositions_total else \
        str(snapshot.compositions)
    hits = f", {snapshot.composition_journal:,} from the journal" if snapshot.composition_journal else ""
    return (f"composition {k} {snapshot.composition}: {snapshot.composition_answers:,}/"
            f"{snapshot.composition_total:,}{hits}")


def format_line(snapshot: Snapshot) -> str:
    """One plain line: ``medrobust: SPEC: 2,640/25,000 answers (11 %), 35.2 answers/s, ETA 10:35, ...``."""
    parts = [_of(snapshot) + (f" ({100 * snapshot.fraction:.0f} %)" if snapshot.fraction is not None else "")]
    rate = snapshot.rate
    parts.append(f"{rate:.3g} answers/s" if rate is not None else "no answer from the model yet")
    if snapshot.eta is not None:
        parts.append(f"ETA {_interval(snapshot.eta)}{' at most' if snapshot.bounded and snapshot.total else ''}")
    if snapshot.journal:
        parts.append(f"{snapshot.journal:,} from the journal")
    return f"medrobust: {snapshot.spec}: {', '.join(parts)}; {_composition(snapshot)}"


def format_done(snapshot: Snapshot) -> str:
    """The spec's last line: what it took."""
    rate = snapshot.rate
    hits = f", {snapshot.journal:,} from the journal" if snapshot.journal else ""
    return (f"medrobust: {snapshot.spec}: done, {snapshot.answers:,} answers in {snapshot.compositions} "
            f"composition{'s' if snapshot.compositions != 1 else ''}, {_interval(snapshot.seconds)}"
            f"{f' ({rate:.3g} answers/s)' if rate is not None else ''}{hits}")


def format_bar(snapshot: Snapshot, width: int, ascii: bool = False) -> str:
    """One terminal line of at most ``width`` characters: tqdm's bar over the spec's answers, after the spec's
    name and the composition's count (cut to leave the bar at least 10 characters)."""
    from tqdm import tqdm

    k = f"{snapshot.compositions}/{snapshot.compositions_total}" if snapshot.compositions_total else \
        str(snapshot.compositions)
    desc = (f"{snapshot.spec} [{k} {snapshot.composition} {snapshot.composition_answers}/"
            f"{snapshot.composition_total}]")
    hits = f" journal {snapshot.journal:,}" if snapshot.journal else ""
    total = snapshot.total if snapshot.total and snapshot.answers <= snapshot.total else None
    unit = " answers" if width >= 100 else ""
    if total:
        meter = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]" + hits
        rest = len(f" 100%|| {total}/{total} [00:00:00<00:00:00, 00000.00{unit}/s]{hits}") + 10
    else:
        meter = "{desc} {n_fmt}" + unit + " [{elapsed}, {rate_fmt}]" + hits
        rest = len(f" {snapshot.answers}{unit} [00:00:00, 00000.00{unit}/s]{hits}")
    room = max(12, width - rest)
    if len(desc) > room:
        desc = desc[:room - 1] + "…"
    text = tqdm.format_meter(snapshot.answers, total, snapshot.seconds, ncols=width, prefix=desc, unit=unit,
                             rate=snapshot.rate, ascii=ascii, bar_format=meter)
    return str(text)[:width]
