"""What a run learnt besides its checks: identities, data digests, model errors and the evidence probes.

Each process that held the model gathers its :func:`local_facts` (JSON-ready:
under pytest-xdist they travel from the workers to the controller); the
controller merges them into one :class:`RunFacts` with the catalogue entries of
the noises used, for :func:`medrobust.certificate.build_certificate`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from .._canonical import canonical_json, samples_digest
from ..contract import describe_model
from . import probes
from .answers import answer_rows, row_key
from .context import RunContext
from .worker_share import compute_once

__all__ = ["RunFacts", "local_facts", "merge_facts", "run_facts", "gather_evidence"]

LOG = logging.getLogger("medrobust.run")


@dataclasses.dataclass
class RunFacts:
    """Everything the certificate states about the run besides options and judgement.

    Attributes:
        model: The model's description (registry name, class, capabilities, weight digests...).
        calibrator: The calibrator's name, options and description.
        dataset: Name, split, size, samples digest and the plugin's description (its path is
            stated in the certificate's undigested ``local`` section, with the run options).
        noises: Catalogue entries of the noises the specs used, by name.
        sample_errors: Every sample the model failed on, with the composition and the error.
        answers: How many answers the run asked for (samples x compositions evaluated).
        evidence: Repeatability, shortcut baselines, test data, environment, probe errors.
        plugins: Which plugin provided each registered name, by kind.
        hypothesis_profile: The hypothesis settings profile the specs ran under.
        answer_rows: Every answer as a row (:mod:`medrobust.run.answers`), for the answers file
            beside the certificate; not part of the certificate itself.
        stages: Seconds each arm spent preparing inputs, answering and waiting for inputs
            (:class:`~medrobust.run.evaluate.StageTiming`), summed over processes; the certificate
            states them outside its digest.
        journal: How the answer journal served the run, summed over arms and processes: answers
            ``asked`` of the model, answers read ``from_journal``, journal entries ``rejected``
            (their MAC did not verify: not used, asked again); outside the digest (an interrupted
            run's certificate must equal an uninterrupted one's).
    """

    model: dict[str, Any]
    calibrator: dict[str, Any]
    dataset: dict[str, Any]
    noises: dict[str, dict[str, Any]]
    sample_errors: list[dict[str, str]]
    answers: int
    evidence: dict[str, Any]
    plugins: dict[str, dict[str, str]]
    hypothesis_profile: str
    answer_rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    stages: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    journal: dict[str, Any] = dataclasses.field(default_factory=dict)


MODEL_PROBES = ("repeatability", "shortcuts")
"""The evidence probes that ask the model."""


def gather_evidence(ctx: RunContext) -> dict[str, Any]:
    """Repeatability, shortcut baselines, test data and environment; a failing probe is recorded, not raised.

    The extra model calls bypass the answer cache and journal; see :mod:`medrobust.run.probes`. They go
    through the run's :attr:`~medrobust.run.context.RunContext.model_calls`: where the model cannot be asked
    (the run was interrupted, or the model has not returned from a call that timed out) the model probes
    are not run and are recorded as skipped, with why (``skipped: run interrupted``); Ctrl-C during a probe
    skips it and the probes after it.
    """
    from ..noise import Composition

    o = ctx.options
    calls = ctx.model_calls
    gather = {
        "repeatability": lambda: probes.repeatability(ctx.model, o.model, ctx.samples, o.batch_size, calls=calls),
        "shortcuts": lambda: probes.shortcuts(ctx.model, o.model, ctx.samples,
                                              ctx.evaluator.evaluate(Composition()).answers, o.batch_size,
                                              calls=calls),
        "test_data": lambda: ctx.test_data_probe.result(),
        "environment": lambda: probes.environment(o.device)}
    evidence: dict[str, Any] = {"probe_errors": {}}
    for name, probe in gather.items():
        unavailable = calls.unavailable if name in MODEL_PROBES else None
        if unavailable is not None:
            evidence[name] = None
            evidence["probe_errors"][name] = f"skipped: {unavailable}"
            continue
        try:
            started = time.perf_counter()
            evidence[name] = probe()
            LOG.info("evidence probe %s in %.1f s%s", name, time.perf_counter() - started,
                     " (the model asked again, past cache and journal)" if name in MODEL_PROBES else "")
            if name in MODEL_PROBES and calls.interrupted:  # Ctrl-C between two of its calls
                raise KeyboardInterrupt
        except KeyboardInterrupt:  # the certificate is still written, from what was answered
            calls.close()
            evidence[name] = None
            evidence["probe_errors"][name] = f"skipped: {calls.unavailable}"
        except Exception as exc:  # a probe must not lose the run's certificate
            evidence[name] = None
            evidence["probe_errors"][name] = f"{type(exc).__name__}: {exc}"
    return evidence


def local_facts(ctx: RunContext, evidence_share: Optional[Path] = None) -> dict[str, Any]:
    """What this process learnt about the run, JSON-ready.

    Args:
        ctx: The run context.
        evidence_share: Under xdist, the file where the workers share the evidence probes
            (the first worker computes them, the others read its result).
    """
    o = ctx.options
    facts: dict[str, Any] = {"model": {"name": o.model}, "calibrator": {"name": o.calibrator,
                                                                       "options": dict(o.calibrator_options)},
                             "dataset": {"name": o.dataset, "split": o.split},
                             "noise_names": [], "sample_errors": [], "compositions": [], "answer_rows": [],
                             "stages": {}}
    if not ctx.loaded:
        return facts
    facts["model"] = describe_model(o.model, ctx.raw_model)
    facts["calibrator"] = ctx.describe_calibrator()
    describe = getattr(ctx.dataset, "describe", None)
    if callable(describe):
        facts["dataset"]["description"] = describe()
    facts["dataset"]["n_samples"] = len(ctx.samples)
    facts["dataset"]["samples_digest"] = samples_digest(ctx.samples)
    names: set[str] = set()
    for evaluation in ctx.evaluator.evaluations.values():
        names.update(step.name for step in evaluation.composition.steps)
        facts["sample_errors"] += [{"composition": evaluation.composition.key, "sample": sample_id,
                                    "error": message} for sample_id, message in sorted(evaluation.errors.items())]
    facts["noise_names"] = sorted(names)
    facts["compositions"] = sorted(ctx.evaluator.evaluations)
    facts["evidence"] = compute_once(evidence_share, lambda: gather_evidence(ctx))
    facts["answer_rows"] = answer_rows(ctx)  # after the evidence, whose probes may answer the clean inputs
    facts["stages"] = {arm: dataclasses.asdict(evaluator.timing) for arm, evaluator in ctx.arms().items()}
    arms = ctx.arms().values()
    facts["journal"] = {"asked": sum(e.asked for e in arms), "from_journal": sum(e.from_journal for e in arms),
                        "rejected": sum(e.journal_rejected for e in arms),
                        "journaled": any(e.journaled for e in arms)}
    return facts


def merge_facts(local: dict[str, Any], remotes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``local`` facts merged with those sent by xdist workers, independent of arrival order."""
    merged = dict(local, noise_names=list(local["noise_names"]), sample_errors=list(local["sample_errors"]),
                  compositions=list(local.get("compositions", ())))
    for remote in remotes:
        if "samples_digest" in remote["dataset"] and "samples_digest" not in merged["dataset"]:
            merged.update(model=remote["model"], calibrator=remote["calibrator"], dataset=remote["dataset"])
        merged["noise_names"] = sorted(set(merged["noise_names"]) | set(remote["noise_names"]))
        merged["compositions"] = sorted(set(merged.get("compositions", ())) | set(remote.get("compositions", ())))
        merged["sample_errors"] += remote["sample_errors"]
    gathered = [f["evidence"] for f in [merged, *remotes] if f.get("evidence")]
    if gathered:  # every worker gathers the same evidence; pick one regardless of arrival order
        merged["evidence"] = min(gathered, key=canonical_json)
    unique = {(e["composition"], e["sample"]): e for e in merged["sample_errors"]}
    merged["sample_errors"] = [unique[k] for k in sorted(unique)]
    merged["answer_rows"] = _merge_rows([f.get("answer_rows") or [] for f in [merged, *remotes]])
    merged["stages"] = _sum_stages([f.get("stages") or {} for f in [local, *remotes]])
    merged["journal"] = {k: sum((f.get("journal") or {}).get(k, 0) for f in [local, *remotes])
                         for k in ("asked", "from_journal", "rejected")}
    merged["journal"]["journaled"] = any((f.get("journal") or {}).get("journaled") for f in [local, *remotes])
    return merged


def _sum_stages(per_process: Sequence[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Stage seconds by arm, added up over the processes that answered."""
    total: dict[str, dict[str, float]] = {}
    for stages in per_process:
        for arm, seconds in stages.items():
            row = total.setdefault(arm, {})
            for stage, value in seconds.items():
                row[stage] = round(row.get(stage, 0.0) + value, 3)
    return total


def _merge_rows(row_lists: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per (arm, composition, sample), whatever the arrival order (the least canonical JSON
    where two processes answered the same input differently)."""
    chosen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for rows in row_lists:
        for row in rows:
            key = row_key(row)
            if key not in chosen or canonical_json(row) < canonical_json(chosen[key]):
                chosen[key] = row
    return [chosen[key] for key in sorted(chosen)]


def _noise_entries(ctx: RunContext, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The catalogue entries of the noises ``names``, with their calibration on a calibrated scale."""
    entries = {}
    calibration = getattr(ctx.noises, "calibration", None)
    for name in sorted(names):
        noise = ctx.noises[name]
        entries[name] = {"modality": noise.modality, "family": noise.family, "version": noise.version,
                         "description": noise.description, "rationale": getattr(noise, "rationale", ""),
                         "random": noise.random, "severities": [dict(row) for row in noise.table],
                         "plugin": ctx.host.noises.provider(name)}
        if calibration is not None:
            entries[name]["calibration"] = [
                {"target": c.target, "level": c.level, "achieved": round(c.achieved, 4), "clamped": c.clamped}
                for c in calibration(name)]
    return entries


def _journal_use(ctx: RunContext, counts: dict[str, Any]) -> dict[str, Any]:
    """The ``journal`` fact: the counts, with a note on whether answers were journaled at all."""
    if not ctx.options.journal:
        return {**counts, "note": "no journal (--journal none): every answer was asked of the model"}
    if not counts["journaled"]:
        return {**counts, "note": "not journaled (the model does not report a digest of its weights, or "
                                  "nothing was answered)"}
    return {**counts, "note": f"{counts['from_journal']} answer(s) read from the journal, "
                              f"{counts['rejected']} journal entr{'y' if counts['rejected'] == 1 else 'ies'} "
                              f"rejected (did not verify: asked again)"}


def run_facts(ctx: RunContext, remotes: Sequence[dict[str, Any]] = ()) -> RunFacts:
    """The facts of a finished run, on the process that writes the certificate."""
    merged = merge_facts(local_facts(ctx), remotes)
    evidence = merged.get("evidence") or {}
    # the profile the specs ran under: under xdist the workers', not this controller's
    profile = (evidence.get("environment") or {}).get("hypothesis_profile") or probes.hypothesis_profile()
    if evidence.get("environment") is None:
        evidence = {**evidence, "environment": probes.environment(ctx.options.device)}
    answers = merged["dataset"].get("n_samples", 0) * len(merged["compositions"])
    return RunFacts(merged["model"], merged["calibrator"], merged["dataset"],
                    _noise_entries(ctx, merged["noise_names"]), merged["sample_errors"], answers, evidence,
                    {kind: ctx.host.registry(kind).providers() for kind in
                     ("models", "calibrators", "noises", "datasets", "metrics")}, profile,
                    merged["answer_rows"], merged["stages"], _journal_use(ctx, merged["journal"]))
