"""pytest collectors for ``*.robust.yaml`` specs: one item per composition.

An item is named after its composition with ``-`` for ``@`` (``gaussian_noise-2+char_typos-1``), a
name ``-k`` accepts, and marked with the modality and family of each of its noises (``-m ct``).
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

import pytest

from ..errors import RobustnessFailure, SpecError
from ..run.yaml_spec import YamlSpec, item_name, load_yaml_spec
from ._stash import run_context
from .markers import mark_spec

__all__ = ["RobustYamlFile", "RobustYamlItem"]


class RobustYamlFile(pytest.File):
    """A declarative spec file."""

    def collect(self) -> Iterable[pytest.Item]:
        ctx = run_context(self.config)
        try:
            spec = load_yaml_spec(self.path, ctx.host.noises, ctx.host.metrics, ctx.host.datasets)
        except SpecError as exc:
            raise self.CollectError(str(exc)) from None
        refusal = None
        if spec.dataset is not None and spec.dataset != ctx.options.dataset:
            refusal = (f"{self.path.name} is written for dataset {spec.dataset!r}; this run uses "
                       f"{ctx.options.dataset!r} (run it with --dataset {spec.dataset}, or leave 'dataset' out "
                       f"of the spec if its thresholds hold on any dataset)")
        for composition in spec.compositions:
            item = RobustYamlItem.from_parent(self, name=item_name(composition), spec=spec,
                                              composition=composition, refusal=refusal)
            mark_spec(item, [step.name for step in composition.steps], ctx.host.noises)
            yield item


class RobustYamlItem(pytest.Item):
    """One composition of a declarative spec, checked against every expectation."""

    medrobust_spec = True

    def __init__(self, *, spec: YamlSpec, composition: Any, refusal: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.composition = composition
        self.refusal = refusal
        """Why this spec does not run here (written for another dataset): it is skipped with this reason."""

    def runtest(self) -> None:
        from ..run.checks import Bench

        if self.refusal:  # skipped as it runs, so that its record states the reason (the run is then PARTIAL)
            raise pytest.skip.Exception(self.refusal, _use_item_location=True)  # shown at the spec, as a mark's

        bench = Bench(run_context(self.config))
        failures = []
        for metric, threshold in self.spec.expect.items():
            try:
                bench.expect(self.composition, metric, **threshold)
            except RobustnessFailure as exc:
                failures.append(str(exc))
        if failures:
            raise RobustnessFailure("\n\n".join(failures))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, RobustnessFailure):
            return f"{self.spec.suite} ({self.path.name}) under {self.composition}:\n{excinfo.value}"
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, 0, f"{self.spec.suite}: {self.composition}"
