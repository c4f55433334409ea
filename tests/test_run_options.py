"""One table of run options: pytest, the command line, replay and the replay command agree."""

from __future__ import annotations

import dataclasses
import shlex

import pytest

from medrobust.cli import build_parser
from medrobust.errors import OptionError
from medrobust.run.options import OPTIONS, RunOptions, options_from_args, options_from_json, replay_command

STATED = RunOptions(model="my-model", model_path="/models/x", model_options={"b": "2", "a": "x y"},
                    calibrator="imc", calibrator_options={"pdc.gate": "0.9"}, dataset="jsonl",
                    dataset_path="/data/m.jsonl", dataset_options={"lang": "all"}, samples=50, seed=7,
                    severity_scale="calibrated", device="cuda:1", batch_size=8)


def test_the_replay_command_parses_back_to_the_options_it_was_made_from():
    words = shlex.split(replay_command(STATED, '[{"name":"jpeg","severity":3}]', "closed_accuracy"))
    assert words[:2] == ["medrobust", "evaluate"]
    args = build_parser().parse_args(words[1:])
    back = options_from_args(args)
    carried = {f for o in OPTIONS if o.replay != "no" for f in o.fields}
    for field in carried:
        assert getattr(back, field) == getattr(STATED, field), field
    assert args.composition == '[{"name":"jpeg","severity":3}]' and args.metric == ["closed_accuracy"]


def test_the_certificates_options_rebuild_the_run_options():
    assert options_from_json(dataclasses.asdict(STATED)) == STATED
    assert options_from_json({**dataclasses.asdict(STATED), "unknown": 1}, journal=None).journal is None


def test_every_pytest_option_comes_from_the_table(pytester: pytest.Pytester):
    result = pytester.runpytest("-p", "medrobust.pytest_plugin", "--help")
    for option in OPTIONS:
        result.stdout.fnmatch_lines([f"*{option.flag}*"])


@pytest.mark.parametrize("changes,message", [({"samples": 0}, "--samples must be at least 1"),
                                             ({"batch_size": 0}, "--batch-size must be at least 1"),
                                             ({"severity_scale": "loud"}, "--severity-scale must be one of")])
def test_bad_values_are_refused_when_the_options_are_made(changes, message):
    with pytest.raises(OptionError, match=message):
        RunOptions(**changes)
