"""The published JSON Schemas of the YAML spec and the protocol (the certificate's: tests/certificate).

Each shipped spec and the example protocol validate; a wrong type is refused by the schema as by the
loader. The schemas are package data, found the way an installed medrobust finds them.
"""

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from medrobust.errors import ProtocolError, SpecError
from medrobust.run.plugins import load_plugins
from medrobust.run.protocol import parse_protocol
from medrobust.run.yaml_load import load_yaml
from medrobust.run.yaml_spec import load_yaml_spec

SUITES = Path(__file__).resolve().parents[1] / "suites"
SPECS = sorted(SUITES.glob("*.robust.yaml"))


def schema(name: str) -> dict:
    text = (resources.files("medrobust") / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8")
    found = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(found)
    return found


def valid(data, name: str) -> bool:
    return jsonschema.Draft202012Validator(schema(name)).is_valid(data)


def test_the_three_schemas_are_shipped_as_draft_2020_12():
    for name in ("certificate", "robust-spec", "protocol"):
        assert schema(name)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_shipped_spec_matches_the_spec_schema(path):
    jsonschema.validate(load_yaml(path.read_text(encoding="utf-8")), schema("robust-spec"),
                        cls=jsonschema.Draft202012Validator)


def test_the_example_protocol_matches_the_protocol_schema():
    data = load_yaml((SUITES / "protocol.example.yaml").read_text(encoding="utf-8"))
    jsonschema.validate(data, schema("protocol"), cls=jsonschema.Draft202012Validator)


GOOD_SPEC = "noises: [jpeg]\nseverities: [1, 2]\nexpect: {closed_accuracy: {max_drop: 0.1}}\n"


@pytest.mark.parametrize("text", [
    "noises: [jpeg]\nseverities: '1'\nexpect: {closed_accuracy: {max_drop: 0.1}}\n",  # a text, not a list
    "noises: [jpeg]\nseverities: [0, 9]\nexpect: {closed_accuracy: {max_drop: 0.1}}\n",
    "noises: [jpeg]\nexpect: {closed_accuracy: {max_drop: '0.1'}}\n",
    "noises: [jpeg]\nexpect: {closed_accuracy: {min: 5}}\n",
    "noises: [jpeg]\nexpect: {closed_accuracy: {at_least: 0.5}}\n",
    "noises: [jpeg]\nexpect: [closed_accuracy]\n",
    "noises: [jpeg]\n",
    "noise: [jpeg]\nexpect: {closed_accuracy: {min: 0.5}}\n",
    "noises: 3\nexpect: {closed_accuracy: {min: 0.5}}\n",
    "compositions: [gaussian noise@2]\nexpect: {closed_accuracy: {min: 0.5}}\n",
])
def test_the_spec_schema_refuses_what_the_loader_refuses(tmp_path, text):
    host = load_plugins()
    good = tmp_path / "good.robust.yaml"
    good.write_text(GOOD_SPEC)
    load_yaml_spec(good, host.noises, host.metrics)
    assert valid(yaml.safe_load(GOOD_SPEC), "robust-spec")
    bad = tmp_path / "bad.robust.yaml"
    bad.write_text(text)
    with pytest.raises(SpecError):
        load_yaml_spec(bad, host.noises, host.metrics)
    assert not valid(yaml.safe_load(text), "robust-spec")


PROTOCOL = """\
title: Toy robustness protocol
version: "1.2"
intended_use: Reading aid for toy squares.
scope: Pixel noise on toy images.
test_data: The toy test split.
criteria:
  - id: NOISE-ACC
    spec: test_mild_noise
    metric: closed_accuracy
    max_drop: 0.2
    justification: A mild noise may cost at most one answer in five.
sign_off:
  tester: {name: Ada Tester, date: "2026-11-20"}
"""


@pytest.mark.parametrize("old, new", [
    ('version: "1.2"', "version: 1.2"),  # a number: YAML reads 1.10 as 1.1
    ("title: Toy robustness protocol", "title: ''"),
    ("    max_drop: 0.2\n", "    max_drop: '0.2'\n"),
    ("    max_drop: 0.2\n", "    max_drop: 2\n"),
    ("    max_drop: 0.2\n", ""),  # no threshold
    ("    justification: A mild noise may cost at most one answer in five.\n", ""),
    ("criteria:\n", "criteria: {}\nx:\n"),
    ("  tester:", "  author:"),
    ("scope:", "scop:"),
])
def test_the_protocol_schema_refuses_what_the_loader_refuses(old, new):
    parse_protocol(PROTOCOL.encode(), "p.yaml")
    assert valid(yaml.safe_load(PROTOCOL), "protocol")
    assert PROTOCOL.count(old) == 1
    text = PROTOCOL.replace(old, new)
    with pytest.raises(ProtocolError):
        parse_protocol(text.encode(), "p.yaml")
    assert not valid(yaml.safe_load(text), "protocol")
