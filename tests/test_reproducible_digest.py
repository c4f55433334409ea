"""The same run gives the same certificate digest: on another day, and with the data at another path.

Runs the toy model on a tiny JSONL dataset with one undecodable image, in-process through pytester,
and compares the certificates. The digested part must name no place on the machine and no Python
object (an object's address changes from run to run).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from conftest import TOY_PLUGIN
from medrobust.certificate.record import DIGEST_EXCLUDES, with_local_paths

SPEC = '''
def test_clean(bench):
    bench.expect("clean", metric="closed_accuracy", min=0.0)

def test_strong_noise(bench):  # fails on the toy model: the certificate holds a case and its replay command
    bench.expect("gaussian_noise@5", metric="closed_accuracy", max_drop=0.0)

class Thing:
    pass

def test_broken(bench):  # its message quotes an object's default repr, address and all
    raise ValueError(f"cannot use {Thing()}")
'''
OBJECT_REPR = re.compile(r"object at 0x[0-9a-fA-F]+")


def write_dataset(root: Path) -> Path:
    """A JSONL manifest: six test questions on three images, one line whose image cannot be decoded,
    and two training lines; returns the manifest."""
    (root / "images").mkdir(parents=True)
    for i, level in enumerate((200, 90, 200)):
        pixels = np.full((32, 32), 40, dtype=np.uint8)
        pixels[8:24, 8:24] = level
        Image.fromarray(pixels, mode="L").save(root / "images" / f"{i}.png")
    (root / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but nothing after the signature")
    lines = [{"id": f"b{i}", "image": f"images/{i}.png", "question": "Is the square in the image bright?",
              "answer": "yes" if i != 1 else "no"} for i in range(3)]
    lines += [{"id": f"s{i}", "image": f"images/{i}.png", "question": "What shape is shown in the image?",
               "answer": "square"} for i in range(3)]
    lines += [{"id": "broken", "image": "images/broken.png", "question": "Is it bright?", "answer": "yes"},
              {"id": "t1", "image": "images/0.png", "question": "Is it bright?", "answer": "yes", "split": "train"}]
    manifest = root / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return manifest


@pytest.fixture
def toy_run(pytester: pytest.Pytester):
    """A function that runs the toy specs on a manifest and returns the certificate written."""
    pytester.makeconftest(TOY_PLUGIN.read_text())
    pytester.makefile(".ini", pytest="[pytest]\n")
    pytester.makepyfile(test_spec=SPEC)

    def run(manifest: Path, name: str) -> dict[str, Any]:
        certificate = pytester.path / "reports" / name
        pytester.runpytest("--model", "toy", "--dataset", f"jsonl:{manifest}", "--journal", "none",
                           "--certificate", str(certificate), "-p", "no:cacheprovider")
        return json.loads(certificate.with_suffix(".json").read_text(encoding="utf-8"))

    return run


def digested_text(cert: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in cert.items() if k not in DIGEST_EXCLUDES})


def test_an_undecodable_image_gives_the_same_digest_run_after_run(toy_run, tmp_path: Path) -> None:
    manifest = write_dataset(tmp_path / "data")
    first, second = toy_run(manifest, "first"), toy_run(manifest, "second")
    problems = first["dataset"]["description"]["skipped"]["problems"]
    assert [(p["record"], p["field"]) for p in problems] == [("line 7 (id broken)", "image")]
    assert problems[0]["message"].startswith("images/broken.png: cannot be decoded as an image")
    assert not OBJECT_REPR.search(digested_text(first)), problems[0]["message"]
    broken = next(s for s in first["specs"] if s["name"] == "test_broken")
    assert broken["message"] == "ValueError: cannot use <test_spec.Thing object>"
    assert first["digest"] == second["digest"]


def test_the_same_data_at_another_path_gives_the_same_digest(toy_run, tmp_path: Path) -> None:
    here, there = write_dataset(tmp_path / "here" / "data"), write_dataset(tmp_path / "there" / "copy")
    first, second = toy_run(here, "here"), toy_run(there, "there")
    assert first["cases"], "the strong-noise spec should fail and leave a case with a replay command"
    for cert, manifest in ((first, here), (second, there)):
        assert str(manifest.parent) not in digested_text(cert)
        assert cert["local"]["dataset_path"] == str(manifest)
        assert '--dataset jsonl:"$DATASET_PATH"' in cert["cases"][0]["replay_command"]
        # as `medrobust replay` prints it, on the machine that made it
        assert f"--dataset jsonl:{manifest} " in with_local_paths(cert["cases"][0]["replay_command"], cert["local"])
    assert first["section_digests"] == second["section_digests"]
    assert first["digest"] == second["digest"]
