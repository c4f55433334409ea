"""Numbering the failure cases that the specs' records carry (built by :mod:`medrobust.run.cases`)."""

from __future__ import annotations

import shlex
from typing import Any

__all__ = ["number_cases"]


def number_cases(specs: list[Any], records: dict[str, Any]) -> list[dict[str, Any]]:
    """Number the cases of the specs that have a minimal failure: ``case-1``, ``case-2``... in spec order.

    Sets ``case_id`` on every check of such a spec that has the case's composition and metric.

    Args:
        specs: The certificate's spec results (with ``minimal_failure`` and ``checks``).
        records: The run's spec records by node id, carrying the case built when a check failed.
    """
    cases = []
    for spec in specs:
        record = records.get(spec.id)
        gathered = record.case if record is not None else None
        minimal = spec.minimal_failure
        if minimal is None or not gathered:
            continue
        if (gathered["composition_key"], gathered["metric"]) != (minimal.composition_key, minimal.metric):
            continue  # the gathered case is not this spec's minimal failure; never state a wrong one
        case_id = f"case-{len(cases) + 1}"
        cases.append({"id": case_id, "spec": spec.id, **gathered,
                      "replay_case_command": _replay_case_command(case_id, gathered.get("replay_command"))})
        for check in spec.checks:
            if (check.composition_key, check.metric) == (minimal.composition_key, minimal.metric):
                check.case_id = case_id
        minimal.case_id = case_id
    return cases


def _replay_case_command(case_id: str, evaluate_command: Any) -> str:
    """``medrobust replay CERT --case ID``, with the ``--plugin`` words of the case's evaluate command (the
    conftest that registered its model, dataset or noises)."""
    words = shlex.split(evaluate_command) if isinstance(evaluate_command, str) else []
    plugins = [w for flag, value in zip(words, words[1:]) if flag == "--plugin" for w in (flag, value)]
    return " ".join(["medrobust", "replay", "CERT", "--case", case_id, *map(shlex.quote, plugins)])
