"""A model plugin written outside this repo, pip-installed on its own, runs under ``pytest suites/``."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "medrobust-echo-model"
version = "1.2.3"

[project.entry-points.medrobust]
echo = "medrobust_echo"
"""

MODULE = '''
"""A third-party model using only the public contract (README, "Writing a plugin")."""
import medrobust


class EchoModel:
    def __init__(self, options):
        self.options = options

    def answer(self, samples):
        out = []
        for s in samples:
            q = s.question.lower()
            out.append("left" if "side" in q else "yes" if s.answer_type == "closed" else "chest")
        return out


@medrobust.hookimpl
def medrobust_register_models(register):
    register("echo", EchoModel)
'''


def test_separately_installed_model_package_runs_the_suites(tmp_path):
    package = tmp_path / "echo"
    package.mkdir()
    (package / "pyproject.toml").write_text(PYPROJECT)
    (package / "medrobust_echo.py").write_text(textwrap.dedent(MODULE))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(package)], check=True)
    env = dict(os.environ, PYTHONPATH=str(site))
    listed = subprocess.run([sys.executable, "-m", "medrobust.cli", "plugins"], env=env,
                            capture_output=True, text=True, check=True).stdout
    assert "echo from echo" in " ".join(listed.split())
    cert = tmp_path / "cert"
    run = subprocess.run([sys.executable, "-m", "pytest", str(REPO / "suites"), "--model", "echo",
                          "--samples", "40", "--certificate", str(cert), "-p", "no:cacheprovider", "-q"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr[-3000:]
    data = json.loads((tmp_path / "cert.json").read_text())
    assert data["model"]["name"] == "echo"
    assert data["model"]["class"] == "medrobust_echo.EchoModel"
    assert data["run"]["plugins"]["models"]["echo"] == "echo"
    assert data["summary"]["checks"] > 0
    assert data["summary"]["error"] == 0, [s["message"] for s in data["specs"] if s["outcome"] == "error"]
    assert (tmp_path / "cert.html").exists()
