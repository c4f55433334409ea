"""A run killed with SIGKILL part way resumes from its journal: nothing journaled is asked again, and the
certificate equals that of a run never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import TOY_PLUGIN

from medrobust.run.journal import journal_info

SLOW_MODEL = '''

import time as _time


class SlowToy(ToyModel):
    """The toy model at 40 ms a call, logging each call: slow enough to be killed part way."""

    def answer(self, samples):
        _time.sleep(0.04)
        with open("calls.log", "a") as log:
            log.write(f"{len(samples)}\\n")
        return super().answer(samples)


@medrobust.hookimpl
def medrobust_register_models(register):
    register("slow-toy", SlowToy)
'''

SPEC = '''
import pytest


@pytest.mark.parametrize("noise", ["jpeg@1", "gaussian_noise@2", "char_typos@2", "jpeg@3", "contrast@2",
                                   "gaussian_blur@2", "impulse_noise@1", "word_dropout@2"])
def test_each(bench, noise):
    bench.expect(noise, metric="closed_accuracy", max_drop=1.0)
'''

ARGS = ["--model", "slow-toy", "--dataset", "toy", "--dataset-option", "n=24", "--batch-size", "4",
        "-p", "no:cacheprovider", "-q"]


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "conftest.py").write_text(TOY_PLUGIN.read_text() + SLOW_MODEL)
    (tmp_path / "test_spec.py").write_text(SPEC)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return tmp_path


def _command(journal: str, certificate: str) -> list[str]:
    return [sys.executable, "-m", "pytest", *ARGS, "--journal", journal, "--certificate", certificate]


def _certificate(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))


def test_a_run_killed_part_way_resumes_from_its_journal_to_the_same_certificate(tmp_path):
    folder = _folder(tmp_path)
    uncut = subprocess.run(_command("uncut.sqlite", "uncut"), cwd=folder, capture_output=True, text=True,
                           timeout=300)
    assert uncut.returncode == 0, uncut.stdout + uncut.stderr
    total = _certificate(folder, "uncut")["timing"]["journal_use"]["asked"]

    (folder / "calls.log").unlink()
    killed = subprocess.Popen(_command("resumed.sqlite", "resumed"), cwd=folder, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and killed.poll() is None:
        log = folder / "calls.log"
        if log.exists() and len(log.read_text().split()) >= 12:  # well into the run, far from its end
            break
        time.sleep(0.02)
    assert killed.poll() is None, "the run ended before it could be killed; make the model slower"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    assert not (folder / "resumed.json").exists()
    journaled = journal_info(folder / "resumed.sqlite")["entries"]
    assert 0 < journaled < total

    resumed = subprocess.run(_command("resumed.sqlite", "resumed"), cwd=folder, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    use = _certificate(folder, "resumed")["timing"]["journal_use"]
    # every journaled answer was read back, none asked again, and only the rest was asked
    assert use["from_journal"] == journaled and use["rejected"] == 0
    assert use["asked"] == total - journaled
    assert _certificate(folder, "resumed")["digest"] == _certificate(folder, "uncut")["digest"]
    uncut_rows = (folder / "uncut.answers.jsonl").read_bytes()
    assert (folder / "resumed.answers.jsonl").read_bytes() == uncut_rows
