"""Opt-in activation: installing medrobust changes no other project's pytest run.

medrobust's pytest plugin is loaded only where a project asks for it, with one line in its rootdir
``conftest.py`` (``pytest_plugins = ["medrobust.pytest_plugin"]``, as ``suites/conftest.py`` does
here), never through a ``pytest11`` entry point that every pytest run in the environment loads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ACTIVATION = 'pytest_plugins = ["medrobust.pytest_plugin"]\n'

OWN_OPTIONS = '''
def pytest_addoption(parser):
    parser.addoption("--device", default="cpu")
    parser.addoption("--model", default="mine")
    parser.addoption("--seed", type=int, default=0)
    parser.addoption("--samples", type=int, default=1)
    parser.addoption("--batch-size", type=int, default=2)
'''

OWN_TEST = '''
import sys

def test_its_own_options(pytestconfig):
    assert pytestconfig.getoption("--device") == "tpu" and pytestconfig.getoption("--model") == "theirs"
    assert pytestconfig.getoption("--seed") == 3
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("medrobust", "medrobust_plugins", "torch",
                                                                  "transformers"))
    assert not loaded, loaded
'''


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("PYTEST_", "MEDROBUST_")) and k not in ("CI", "BUILD_NUMBER")}


def _start_up(folder, *extra: str) -> float:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--device", "tpu", "--model",
               "theirs", "--seed", "3", *extra]
    start = time.perf_counter()
    run = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=_clean_env(), timeout=60)
    took = time.perf_counter() - start
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout
    return took


def test_medrobust_registers_no_pytest11_entry_point():
    """Nothing of medrobust is loaded into a pytest run that does not ask for it."""
    assert not [e for e in metadata.entry_points(group="pytest11") if e.value.startswith("medrobust")]


def test_a_project_with_its_own_options_runs_as_if_medrobust_were_not_installed(pytester: pytest.Pytester):
    """Its own --device, --model, --seed, --samples, --batch-size; no medrobust or torch import; the same
    start-up time with and without ``-p no:medrobust`` (best of four to ten runs each, interleaved)."""
    pytester.makeconftest(OWN_OPTIONS)
    pytester.makepyfile(test_theirs=OWN_TEST)
    pytester.makefile(".ini", pytest="[pytest]\n")
    with_us, without_us = [], []
    for _ in range(10):  # at least four rounds; more while a loaded machine keeps the two minima apart
        with_us.append(_start_up(pytester.path))
        without_us.append(_start_up(pytester.path, "-p", "no:medrobust", "-p", "no:medrobust.pytest_plugin"))
        if len(with_us) >= 4 and abs(min(with_us) - min(without_us)) <= 0.2:
            break
    assert abs(min(with_us) - min(without_us)) <= 0.2, (with_us, without_us)


YAML_SPEC = """suite: first slice
noises: [gaussian_noise]
severities: [1]
expect:
  answer_consistency: {min: 0.0}
"""


@pytest.mark.parametrize("where", ["conftest.py", "suites/conftest.py"])
def test_a_user_repository_runs_a_yaml_spec_with_the_one_documented_line(pytester: pytest.Pytester, where):
    """The README's set-up: one line in the rootdir conftest (or in the conftest of the folder named on the
    command line, as here), then ``pytest suites/`` writes a certificate."""
    (pytester.path / "suites").mkdir()
    (pytester.path / where).write_text(ACTIVATION)
    (pytester.path / "suites" / "first.robust.yaml").write_text(YAML_SPEC)
    result = pytester.runpytest_subprocess("suites/", "--samples", "6", "--journal", "none", "--fail-on", "error",
                                           "-p", "no:cacheprovider")  # a fresh process, as a user's run
    assert result.ret == 0, result.stdout.str()[-3000:]
    result.assert_outcomes(passed=1)
    certificate = json.loads((pytester.path / "reports" / "certificate.json").read_text())
    assert certificate["verdict"] and certificate["run"]["options"]["samples"] == 6
    assert [s["id"] for s in certificate["specs"]] == ["suites/first.robust.yaml::gaussian_noise-1"]


def test_without_the_line_a_yaml_spec_is_not_collected(pytester: pytest.Pytester):
    """Not activated: ``*.robust.yaml`` files are not pytest's business, and no option of ours exists."""
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "first.robust.yaml").write_text(YAML_SPEC)
    result = pytester.runpytest("suites/", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert not (pytester.path / "reports").exists()
    result = pytester.runpytest("suites/", "--samples", "6", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: --samples" in result.stderr.str()


def test_the_suites_conftest_loads_the_hypothesis_profile_and_the_command_line_profile_wins(pytester):
    """suites/conftest.py loads the ``medrobust`` profile once the plugin has registered it (it is imported
    after the conftest); ``--hypothesis-profile`` still wins. In subprocesses: a profile is process state."""
    conftest = (REPO / "suites" / "conftest.py").read_text()
    (pytester.path / "conftest.py").write_text(conftest)
    pytester.makepyfile(test_profile='''
from hypothesis import settings

def test_profile(pytestconfig):
    print("PROFILE", settings.default.derandomize, settings.default.max_examples)
''')
    assert "PROFILE True 8" in pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider").stdout.str()
    explore = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", "--hypothesis-profile",
                                            "medrobust-explore")
    assert "PROFILE False 30" in explore.stdout.str()
