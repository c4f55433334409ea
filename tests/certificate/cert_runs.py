"""Real certificates for the certificate tests: pytester runs of the toy plugin."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import pytest

TOY_PLUGIN = Path(__file__).resolve().parents[1] / "toy_plugin.py"

PLANTED_SPEC = '''
import pytest
from hypothesis import given, settings
import medrobust as mr
settings.load_profile("medrobust")

def test_mild(bench):
    bench.expect("gaussian_blur@1", metric="closed_accuracy", max_drop=0.2)

@pytest.mark.xfail(reason="known: the planted pair breaks the model")
def test_known(bench):
    bench.expect("char_typos@4+gaussian_noise@4", metric="closed_accuracy", max_drop=0.05)

@settings(max_examples=60)
@given(noise=mr.compositions(max_noises=3, noises=["gaussian_noise", "gaussian_blur", "jpeg", "char_typos"]))
def test_planted(bench, noise):
    bench.expect(noise, metric="closed_accuracy", max_drop=0.05)
'''
"""A passing spec, a known failure, and a hypothesis spec that shrinks to ``gaussian_noise@3 + char_typos@3``
on the ``planted`` model."""

NOISE_SENSITIVE_MODELS = '''

HOSTILE = "<script>alert(1)</script> {{ 7*7 }} </table> \\udcff \\x00\\x1b[31m\\u202eevil\\r\\x85" + "long " * 2000


class NoiseSensitiveModel:
    """Right on clean images. Under pixel noise, ``versioned`` with option version=2 flips its closed
    answers (a planted regression) and ``hostile`` answers with markup, a template, invalid UTF-8 and
    control and bidi characters."""

    def __init__(self, options, hostile=False):
        self.version = str(options.get("version", "1"))
        self.hostile = hostile
        self.truth = {s.id: s.answer for split in ("test", "reference") for s in ToyDataset({}).samples(split)}

    def answer(self, samples):
        out = []
        for s in samples:
            clean = np.asarray(_clean_image(int(s.id.rsplit("/", 1)[1])), dtype=np.int16)
            noisy = np.abs(np.asarray(s.image, dtype=np.int16) - clean)[0:4, 0:4].max() > 5
            answer = self.truth[s.id]
            if answer in ("yes", "no"):  # read from the image, as a model that does the task would
                answer = "yes" if np.asarray(s.image, dtype=np.float32)[12:20, 12:20].mean() > 140 else "no"
            if noisy and self.hostile:
                answer = HOSTILE
            elif noisy and self.version == "2":
                answer = {"yes": "no", "no": "yes"}.get(answer, answer)
            out.append(answer)
        return out

    def describe(self):
        return {"name": "hostile" if self.hostile else "versioned", "version": self.version,
                "weights_sha256": self.version * 64}


_TOY_MODELS = medrobust_register_models


@medrobust.hookimpl
def medrobust_register_models(register):
    _TOY_MODELS(register)
    register("versioned", NoiseSensitiveModel)
    register("hostile", lambda options: NoiseSensitiveModel(options, hostile=True))
'''
"""Conftest code appended to the toy plugin: models that break under pixel noise in planted ways."""

PLANTED_ARGS = ("--model", "planted", "--dataset", "toy", "-p", "no:cacheprovider", "--journal", "none")


def run_planted(toy: pytest.Pytester, *extra: str) -> Path:
    """Run :data:`PLANTED_SPEC` on the planted model; returns the JSON twin's path."""
    toy.makepyfile(test_planted=PLANTED_SPEC)
    toy.runpytest(*PLANTED_ARGS, *extra).assert_outcomes(passed=1, failed=1, xfailed=1)
    return toy.path / "reports" / "certificate.json"


def load(path: Path) -> dict[str, Any]:
    """A certificate's JSON twin as a dict."""
    return json.loads(path.read_text(encoding="utf-8"))


def planted_run(directory: Path, *extra: str) -> Path:
    """Run :data:`PLANTED_SPEC` in a fresh pytest process in ``directory`` (for module-scoped fixtures).

    Returns the JSON twin's path; the HTML view lies beside it.
    """
    return spec_run(directory, PLANTED_SPEC, (*PLANTED_ARGS, *extra), "1 failed, 1 passed, 1 xfailed",
                    module="test_planted")


def spec_run(directory: Path, spec: str, args: Sequence[str], outcome: str, conftest_extra: str = "",
             certificate: str = "reports/certificate", module: str = "test_spec") -> Path:
    """Run ``spec`` with the toy plugin (plus ``conftest_extra``) in a fresh pytest process in ``directory``.

    Args:
        directory: Where the run happens (created if needed).
        spec: The text of the test module.
        args: pytest arguments.
        outcome: Text the summary line must contain, e.g. ``"2 passed"``.
        conftest_extra: Python appended to the toy plugin's conftest.
        certificate: The ``--certificate`` base path.
        module: The test module's name (specs are ``MODULE.py::test_...``).

    Returns:
        The JSON twin's path; the HTML view lies beside it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    conftest = TOY_PLUGIN.read_text(encoding="utf-8") + conftest_extra
    (directory / "conftest.py").write_text(conftest, encoding="utf-8")
    (directory / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (directory / f"{module}.py").write_text(spec, encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", *args, "--certificate", certificate],
                          cwd=directory, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert outcome in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    return directory / f"{certificate}.json"


def copy_twins(json_path: Path, directory: Path) -> Path:
    """Copy a certificate's JSON twin, HTML view and answers file into ``directory``; returns the copied
    JSON's path."""
    directory.mkdir(parents=True, exist_ok=True)
    answers = json_path.with_name(json_path.stem + ".answers.jsonl")
    for source in (json_path, json_path.with_suffix(".html"), answers):
        if source.exists() or source != answers:
            shutil.copy(source, directory / source.name)
    return directory / json_path.name
