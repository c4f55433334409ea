"""The ``bench`` fixture's object: evaluate under a composition, assert a threshold."""

from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Union

from .._format import number
from ..errors import RobustnessFailure
from ..noise import Composition, NoiseStep
from .cases import case_replay_command, failure_case
from .conclusions import conclude, stratify
from .context import RunContext
from .evaluate import Comparison
from .records import CheckRecord, drop_of

__all__ = ["Bench", "as_composition"]

CompositionLike = Union[Composition, str, Iterable[Union[NoiseStep, tuple, str]]]


def as_composition(value: CompositionLike) -> Composition:
    """Accept a Composition, its text (``"noise@3+other@1"``, ``"clean"``, its JSON), or an iterable of steps."""
    if isinstance(value, Composition):
        return value
    if isinstance(value, str):
        return Composition.parse(value)
    return Composition.of(*value)


def _steer_search(metric: str, result: Comparison) -> None:
    """Inside a hypothesis test, steer the search toward the largest degradation."""
    import hypothesis
    import hypothesis.errors

    if hypothesis.currently_in_test_context() and not math.isnan(result.drop):
        try:
            hypothesis.target(result.drop, label=f"drop of {metric}")
        except hypothesis.errors.InvalidArgument:
            pass  # the same metric was already targeted in this example


def _ab_lines(calibrator: str, ab: dict[str, Any]) -> list[str]:
    gain, cost = ab["noisy_gain"], ab["clean_cost"]
    p = f", McNemar p={gain['p_value']:.3g}" if gain.get("p_value") is not None else ""
    return [f"  without {calibrator}: clean {ab['clean']['value']:.3f}, noisy {ab['noisy']['value']:.3f}",
            f"  {calibrator} gain on noisy: {gain['diff']:+.3f} [{gain['low']:+.3f}, {gain['high']:+.3f}]{p}; "
            f"cost on clean: {cost['diff']:+.3f} [{cost['low']:+.3f}, {cost['high']:+.3f}]"]


class Bench:
    """Evaluates the session's model (through its calibrator) and checks thresholds."""

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx

    @property
    def samples(self) -> list[Any]:
        """The evaluation samples."""
        return self._ctx.samples

    def _uncalibrated(self, comp: Composition, metric: str, calibrated: Comparison) -> Optional[dict[str, Any]]:
        """The A arm of A/B: the model without the calibrator on the same inputs, with paired differences."""
        baseline = self._ctx.baseline_evaluator
        if baseline is None:
            return None
        from .stats import paired_difference

        raw = baseline.compare(comp, self._ctx.host.metrics[metric])
        seed = self._ctx.options.seed
        return {"clean": raw.clean.to_json(), "noisy": raw.noisy.to_json(),
                "noisy_gain": paired_difference(raw.scores, calibrated.scores, seed).to_json(),
                "clean_cost": paired_difference(calibrated.clean_scores, raw.clean_scores, seed).to_json()}

    def compare(self, composition: CompositionLike, metric: str = "closed_accuracy") -> Comparison:
        """Clean and noisy figures of ``metric`` under ``composition``, without asserting."""
        return self._ctx.evaluator.compare(as_composition(composition), self._ctx.host.metrics[metric])

    def expect(self, composition: CompositionLike, metric: str = "closed_accuracy", *,
               max_drop: Optional[float] = None, min: Optional[float] = None) -> Comparison:
        """Assert that ``metric`` under ``composition`` stays within a threshold.

        Args:
            composition: The noise composition to apply to every sample.
            metric: A registered metric name.
            max_drop: Largest allowed fall from the clean value.
            min: Smallest allowed noisy value.

        Raises:
            RobustnessFailure: With metric, clean and noisy values, threshold,
                composition and the command that replays it.
        """
        if max_drop is None and min is None:
            raise ValueError("bench.expect needs a threshold: max_drop=... or min=...")
        for label, value in (("max_drop", max_drop), ("min", min)):
            if value is not None and not (0.0 <= value <= 1.0):
                raise ValueError(f"bench.expect {label} must lie in [0, 1], got {value!r}")
        comp = as_composition(composition)
        result = self.compare(comp, metric)
        if result.noisy.n == 0:
            raise ValueError(f"metric {metric!r} applies to none of the {len(self.samples)} samples of "
                             f"dataset {self._ctx.options.dataset!r}; choose a metric that fits its questions")
        threshold: dict[str, float] = {}
        failures = []
        if max_drop is not None:
            threshold["max_drop"] = max_drop
            if not result.noisy.value >= result.clean.value - max_drop - 1e-12:
                failures.append(f"dropped by {result.drop:.3f} > max_drop {max_drop:.3f} "
                                f"(needed noisy >= {result.clean.value - max_drop:.3f})")
        if min is not None:
            threshold["min"] = min
            if not result.noisy.value >= min - 1e-12 or math.isnan(result.noisy.value):
                failures.append(f"is {result.noisy.value:.3f} < min {min:.3f}")
        _steer_search(metric, result)
        errors = sum(1 for a in self._ctx.evaluator.evaluate(comp).answers if a is None)
        uncalibrated = self._uncalibrated(comp, metric, result)
        conclusion, interval = conclude(threshold, result.clean_scores, result.scores, result.noisy,
                                        self._ctx.options.seed)
        clean, noisy = result.clean.to_json(), result.noisy.to_json()
        record = CheckRecord(comp.to_json(), comp.key, metric, clean, noisy, drop_of(clean, noisy), threshold,
                             not failures, errors, uncalibrated, conclusion, interval,
                             stratify(self.samples, result.clean_scores, result.scores))
        if self._ctx.current is not None:
            self._ctx.current.checks.append(record)
            if failures:  # hypothesis replays the shrunk example last: the last case is the minimal one
                self._ctx.current.case = failure_case(self._ctx, comp, metric, result)
        if failures:
            raise RobustnessFailure("\n".join([
                f"{metric} {' and '.join(failures)}",
                f"  metric:      {metric}",
                f"  clean:       {result.clean}",
                f"  noisy:       {result.noisy}",
                f"  threshold:   {', '.join(f'{k} {v}' for k, v in threshold.items())}",
                f"  95% CI:      {interval['of']} [{number(interval['low'])}, {number(interval['high'])}] -> "
                f"{conclusion} (the certificate's verdict rests on the interval)",
                f"  composition: {comp}",
                f"  model errors on {errors} samples" if errors else "  model errors: none",
                *(_ab_lines(self._ctx.options.calibrator, uncalibrated) if uncalibrated else []),
                f"  replay:      {case_replay_command(self._ctx, comp, metric)}",
            ]))
        return result
