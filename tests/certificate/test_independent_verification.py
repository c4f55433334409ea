"""Anyone can check a certificate: RFC 8785 digests, the README's recipes, the JSON Schema, schema /2.

The digests are recomputed here with the independent ``rfc8785`` package and with Node, never with
medrobust's own canonical form.
"""

import copy
import hashlib
import json
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import rfc8785
from cert_runs import NOISE_SENSITIVE_MODELS, load, planted_run, spec_run

from medrobust.certificate.integrity import check_digests, verify
from medrobust.certificate.record import DIGEST_EXCLUDES, SCHEMA
from medrobust.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"
NODE = shutil.which("node")


def _readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Checking a certificate without medrobust")
    return text[start:text.index("\n## ", start + 1)]


def _python_recipe() -> str:
    section = _readme_section()
    start = section.index("```python\n") + len("```python\n")
    return section[start:section.index("```", start)]


def _node_recipe() -> str:
    return next(line for line in _readme_section().splitlines() if line.startswith("node -e "))


def _rfc8785_sha256(value) -> str:
    return hashlib.sha256(rfc8785.dumps(value)).hexdigest()


def _certificate_schema() -> dict:
    return json.loads((resources.files("medrobust") / "schemas" / "certificate.schema.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A fresh certificate's JSON twin (passing, failing and known-failure specs, failure cases with seeds)."""
    return planted_run(tmp_path_factory.mktemp("fresh"))


def test_the_digests_recompute_with_an_independent_rfc8785_implementation(fresh):
    text = fresh.read_text(encoding="utf-8")
    data = json.loads(text, parse_int=float)  # RFC 8785 reads every JSON number as a double
    assert data["schema"] == SCHEMA == "medrobust.certificate/4"
    covered = {k: v for k, v in data.items() if k not in DIGEST_EXCLUDES}
    assert _rfc8785_sha256(covered) == data["digest"]
    assert data["section_digests"] == {k: _rfc8785_sha256(v) for k, v in covered.items() if k != "section_digests"}
    # the JSON twin is itself RFC 8785 text
    assert rfc8785.dumps(data) + b"\n" == fresh.read_bytes()


def test_noise_seeds_are_decimal_strings_that_replay(fresh):
    """A 63-bit noise seed is not exact as a JSON number in every reader (RFC 8785 reads doubles): every
    record writes it as a string of its digits, and the record reads back to the integer seed."""
    from medrobust.noise import AppliedNoise
    data = load(fresh)
    applied = [a for case in data["cases"] for ex in case["examples"] for a in ex["applied"]]
    seeds = [a["params"]["seed"] for a in applied if "seed" in a["params"]]
    assert seeds and all(isinstance(s, str) and s.isdigit() for s in seeds)
    assert any(int(s) > 2 ** 53 for s in seeds)
    for record in applied:
        back = AppliedNoise.from_json(record)
        assert isinstance(back.params.get("seed", 0), int) and back.to_json() == record


def test_the_readmes_python_recipe_says_valid_and_catches_a_change(fresh, tmp_path):
    recipe = _python_recipe()
    assert "rfc8785.dumps" in recipe and "medrobust" not in recipe
    done = subprocess.run([sys.executable, "-c", recipe], cwd=fresh.parents[1], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.split() == ["valid", load(fresh)["digest"]]
    changed = load(fresh)
    changed["specs"][0]["checks"][0]["noisy"]["value"] += 0.001
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "certificate.json").write_text(json.dumps(changed), encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", recipe], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.split()[0] == "TAMPERED"


@pytest.mark.skipif(NODE is None, reason="needs Node.js")
def test_the_readmes_node_recipe_gives_the_digest(fresh):
    done = subprocess.run(["bash", "-c", _node_recipe()], cwd=fresh.parents[1], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == load(fresh)["digest"]


@pytest.mark.skipif(NODE is None, reason="needs Node.js")
def test_the_node_recipe_checks_a_certificate_with_undecodable_model_output(tmp_path):
    spec = "def test_pixels(bench):\n    bench.expect('gaussian_noise@2', metric='closed_accuracy', max_drop=0.1)\n"
    path = spec_run(tmp_path, spec, ("--model", "hostile", "--dataset", "toy", "-p", "no:cacheprovider",
                                     "--journal", "none"), "1 failed", NOISE_SENSITIVE_MODELS)
    assert "\\udcff" in path.read_text(encoding="utf-8")  # a lone surrogate, escaped
    done = subprocess.run(["bash", "-c", _node_recipe()], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == load(path)["digest"]


def test_a_fresh_certificate_matches_its_published_json_schema(fresh):
    schema = _certificate_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    data = load(fresh)
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)
    # a section added later does not break the schema
    jsonschema.validate({**data, "later_section": {"sha256": "0" * 64}}, schema, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("path, value", [
    (("summary", "checks"), "12"),
    (("specs", 0, "checks", 0, "passed"), "yes"),
    (("specs", 0, "checks", 0, "clean", "n"), 1.5),
    (("cases", 0, "examples", 0, "noisy_image_sha256"), "not a digest"),
    (("digest",), None),
    (("verdict",), ["PASS"]),
])
def test_the_certificate_schema_rejects_a_wrong_type(fresh, path, value):
    data = load(fresh)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, _certificate_schema(), cls=jsonschema.Draft202012Validator)


def _legacy_sha256(value) -> str:
    """The digest recipe of schemas /1 and /2, written out here independently of medrobust."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_a_schema_2_certificate_still_verifies_with_its_own_recipe(fresh, tmp_path, capsys):
    data = load(fresh)
    data["schema"] = "medrobust.certificate/2"
    del data["answers"]  # a /2 certificate predates the answers file
    data["shortcuts"]["margins"]["majority"]["p_value"] = 1e-05  # json.dumps writes 1e-05, RFC 8785 0.00001
    covered = {k: v for k, v in data.items() if k not in DIGEST_EXCLUDES and k != "section_digests"}
    data["section_digests"] = {k: _legacy_sha256(v) for k, v in covered.items()}
    data["digest"] = _legacy_sha256({k: v for k, v in data.items() if k not in DIGEST_EXCLUDES})
    as_doubles = json.loads(json.dumps({k: v for k, v in data.items() if k not in DIGEST_EXCLUDES}), parse_int=float)
    assert data["digest"] != _rfc8785_sha256(as_doubles)
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data), encoding="utf-8")
    assert main(["verify", str(old)]) == 0
    assert "schema medrobust.certificate/2: digests recomputed over Python's json.dumps form" in capsys.readouterr().out
    # a one-character change in a /2 certificate is still caught, in the section it is in
    tampered = copy.deepcopy(data)
    tampered["shortcuts"]["margins"]["majority"]["p_value"] = 2e-05
    assert check_digests(tampered).changed_sections == ["shortcuts"]
    # the same digests under the label /3 do not verify: the recipe follows the schema
    relabelled = tmp_path / "relabelled.json"
    relabelled.write_text(json.dumps({**data, "schema": SCHEMA}), encoding="utf-8")
    assert not verify(relabelled).valid
