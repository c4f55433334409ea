"""The ``bench`` fixture's object: evaluate under a composition, assert a threshold."""

from __future__ import annotations

import math
import shlex
from typing import Any, Iterable, Optional, Union

from .conclusions import conclude, stratify
from .evaluate import Comparison
from .noise.composition import Composition, NoiseStep
from .session import CheckRecord, RunContext

__all__ = ["Bench", "RobustnessFailure", "as_composition", "replay_command"]

CompositionLike = Union[Composition, str, Iterable[Union[NoiseStep, tuple, str]]]


class RobustnessFailure(AssertionError):
    """A robustness expectation did not hold."""


def as_composition(value: CompositionLike) -> Composition:
    """Accept a Composition, ``"noise@3+other@1"``, or an iterable of steps."""
    if isinstance(value, Composition):
        return value
    if isinstance(value, str):
        return Composition() if value in ("", "clean") else Composition.of(*value.split("+"))
    return Composition.of(*value)


def replay_command(ctx: RunContext, composition: Composition, metric: str) -> str:
    """The shell command that re-evaluates ``composition`` outside pytest."""
    o = ctx.options
    parts = ["medrobust", "evaluate", "--model", o.model]
    if o.model_path:
        parts += ["--model-path", o.model_path]
    for key, value in sorted(o.model_options.items()):
        parts += ["--model-option", f"{key}={value}"]
    if o.calibrator != "none":
        parts += ["--calibrator", o.calibrator]
    for key, value in sorted(o.calibrator_options.items()):
        parts += ["--calibrator-option", f"{key}={value}"]
    dataset = o.dataset + (f":{o.dataset_path}" if o.dataset_path else "")
    parts += ["--dataset", dataset]
    for key, value in sorted(o.dataset_options.items()):
        parts += ["--dataset-option", f"{key}={value}"]
    parts += ["--seed", str(o.seed)]
    if o.severity_scale != "declared":
        parts += ["--severity-scale", o.severity_scale]
    if o.samples is not None:
        parts += ["--samples", str(o.samples)]
    parts += ["--metric", metric, "--composition", composition.to_json_text()]
    return " ".join(shlex.quote(p) for p in parts)


def _steer_search(metric: str, result: Comparison) -> None:
    """Inside a hypothesis test, steer the search toward the largest degradation."""
    import hypothesis
    import hypothesis.errors

    if hypothesis.currently_in_test_context() and not math.isnan(result.drop):
        try:
            hypothesis.target(result.drop, label=f"drop of {metric}")
        except hypothesis.errors.InvalidArgument:
            pass  # the same metric was already targeted in this example


def _num(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.3f}"


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
        record = CheckRecord(comp, metric, result.clean, result.noisy, threshold, not failures, errors,
                             uncalibrated, conclusion, interval,
                             stratify(self.samples, result.clean_scores, result.scores))
        if self._ctx.current is not None:
            self._ctx.current.checks.append(record)
            if failures:  # hypothesis replays the shrunk example last: the last case is the minimal one
                from .certificate.cases import failure_case

                ctx = self._ctx
                ctx.current.defer_case(lambda: failure_case(ctx, comp, metric, result))
        if failures:
            raise RobustnessFailure("\n".join([
                f"{metric} {' and '.join(failures)}",
                f"  metric:      {metric}",
                f"  clean:       {result.clean}",
                f"  noisy:       {result.noisy}",
                f"  threshold:   {', '.join(f'{k} {v}' for k, v in threshold.items())}",
                f"  95% CI:      {interval['of']} [{_num(interval['low'])}, {_num(interval['high'])}] -> "
                f"{conclusion} (the certificate's verdict rests on the interval)",
                f"  composition: {comp}",
                f"  model errors on {errors} samples" if errors else "  model errors: none",
                *(_ab_lines(self._ctx.options.calibrator, uncalibrated) if uncalibrated else []),
                f"  replay:      {replay_command(self._ctx, comp, metric)}",
            ]))
        return result
