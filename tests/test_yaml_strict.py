"""Every YAML the harness reads refuses a key given twice, naming the key and both lines."""

from pathlib import Path

import pytest
import yaml
from conftest import TOY_ARGS

from medrobust.cli import main
from medrobust.errors import ProtocolError, SpecError
from medrobust.run.protocol import parse_protocol
from medrobust.run.yaml_load import DuplicateKeyError, load_yaml
from medrobust.run.yaml_spec import load_yaml_spec

SUITES = Path(__file__).resolve().parents[1] / "suites"

PROTOCOL = """\
title: Toy robustness protocol
version: "1.0"
intended_use: Reading aid for toy squares.
scope: Pixel noise on toy images.
test_data: The toy test split.
criteria:
  - id: NOISE-ACC
    metric: closed_accuracy
    max_drop: 0.2
    justification: A mild noise may cost at most one answer in five.
"""


def test_a_key_given_twice_is_refused_with_its_lines():
    with pytest.raises(DuplicateKeyError, match=r"^key 'title' is given twice \(lines 1 and 3\)$"):
        load_yaml("title: a\nversion: b\ntitle: c\n")
    nested = "expect:\n  closed_accuracy: {max_drop: 0.1}\n  closed_accuracy: {min: 0.5}\n"
    with pytest.raises(DuplicateKeyError, match=r"key 'closed_accuracy' is given twice \(lines 2 and 3\)"):
        load_yaml(nested)
    with pytest.raises(DuplicateKeyError, match=r"key 'min' is given twice \(lines 1 and 1\)"):
        load_yaml("x: {min: 0.1, min: 0.2}\n")


def test_keys_that_load_as_one_value_are_one_key():
    with pytest.raises(DuplicateKeyError, match=r"keys '1' and '1.0' load as the same key \(lines 1 and 2\)"):
        load_yaml("1: a\n1.0: b\n")


def test_a_merged_key_may_be_overridden_as_yaml_allows():
    text = "base: &base {max_drop: 0.1, min: 0.5}\nexpect:\n  <<: *base\n  min: 0.8\n"
    assert load_yaml(text)["expect"] == {"max_drop": 0.1, "min": 0.8}


def test_without_duplicates_it_reads_what_safe_load_reads():
    for path in [*SUITES.glob("*.robust.yaml"), SUITES / "protocol.example.yaml"]:
        text = path.read_text(encoding="utf-8")
        assert load_yaml(text) == yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError):  # still a safe loader: no Python objects
        load_yaml("!!python/object/apply:os.system [echo hi]\n")


def test_a_spec_with_a_key_given_twice_is_a_spec_error(tmp_path):
    path = tmp_path / "twice.robust.yaml"
    path.write_text("noises: [jpeg]\nseverities: [1]\nexpect: {closed_accuracy: {min: 0.5}}\nseverities: [2]\n")
    with pytest.raises(SpecError, match=r"twice.robust.yaml: key 'severities' is given twice \(lines 2 and 4\)"):
        load_yaml_spec(path, {}, {})


def test_a_spec_with_a_key_given_twice_fails_its_collection(toy):
    toy.makefile(".robust.yaml", twice="noises: [jpeg]\nexpect:\n  closed_accuracy: {max_drop: 0.1}\n"
                                       "  closed_accuracy: {max_drop: 0.5}\n")
    result = toy.runpytest(*TOY_ARGS)
    assert result.ret != 0
    assert "twice.robust.yaml: key 'closed_accuracy' is given twice (lines 3 and 4)" in result.stdout.str()


def test_a_protocol_with_a_key_given_twice_is_refused():
    with pytest.raises(ProtocolError, match=r"^protocol p.yaml: key 'title' is given twice \(lines 1 and 11\)$"):
        parse_protocol((PROTOCOL + "title: Another title\n").encode(), "p.yaml")
    twice = PROTOCOL.replace("    max_drop: 0.2\n", "    max_drop: 0.2\n    max_drop: 0.5\n")
    with pytest.raises(ProtocolError, match=r"key 'max_drop' is given twice \(lines 9 and 10\)"):
        parse_protocol(twice.encode(), "p.yaml")
    assert parse_protocol(PROTOCOL.encode(), "p.yaml").criteria[0].max_drop == 0.2


def test_medrobust_protocol_refuses_a_key_given_twice(tmp_path, capsys):
    path = tmp_path / "protocol.yaml"
    path.write_text(PROTOCOL.replace("scope:", "title: Again\nscope:"))
    assert main(["protocol", str(path)]) == 2
    assert "key 'title' is given twice (lines 1 and 4)" in capsys.readouterr().err


def test_a_run_with_a_protocol_given_a_key_twice_does_not_start(toy):
    toy.makepyfile(test_spec="def test_mild_noise(bench):\n"
                             "    bench.expect('gaussian_noise@1', metric='closed_accuracy', max_drop=0.2)\n")
    path = toy.path / "protocol.yaml"
    path.write_text(PROTOCOL + "version: \"2.0\"\n")
    result = toy.runpytest(*TOY_ARGS, "--protocol", str(path))
    assert result.ret != 0
    assert "key 'version' is given twice (lines 2 and 11)" in result.stdout.str() + result.stderr.str()
