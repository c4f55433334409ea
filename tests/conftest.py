"""Shared fixtures for medrobust's own tests."""

import importlib
import json
import pkgutil
from pathlib import Path

import pytest

from medrobust.run.plugins import load_plugins

pytest_plugins = ["pytester"]



def _import_medrobust(package: str = "medrobust") -> None:
    """Import every module of medrobust but its pytest plugin."""
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__, package + "."):
        if not info.name.startswith(("medrobust.pytest_plugin", "medrobust.__main__")):
            _import_medrobust(info.name) if info.ispkg else importlib.import_module(info.name)


# The pytester runs below activate medrobust in this process (their conftest's pytest_plugins line). pytester
# unloads every module a run imported once it ends: torch cannot be imported twice into one process, and an
# object made in one run (a model fixture) must be an instance of the classes the next run checks. So medrobust,
# the built-in plugins and the noise catalogue (torch) are imported here, once, before any run. (Not the plugin
# itself: a run imports it anew, as pytest_plugins does in a user's project.)
_import_medrobust()
load_plugins().noises  # noqa: B018

TOY_PLUGIN = Path(__file__).with_name("toy_plugin.py")
TOY_ARGS = ("--model", "toy", "--dataset", "toy", "-p", "no:cacheprovider")


@pytest.fixture
def toy(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory whose conftest registers the toy dataset and models."""
    pytester.makeconftest(TOY_PLUGIN.read_text())
    pytester.makefile(".ini", pytest="[pytest]\n")
    return pytester


def read_certificate(pytester: pytest.Pytester) -> dict:
    """The JSON twin of the certificate a pytester run wrote to ``reports/``."""
    return json.loads((pytester.path / "reports" / "certificate.json").read_text())


def read_certificate_html(pytester: pytest.Pytester) -> str:
    """The HTML view of the certificate a pytester run wrote to ``reports/``."""
    return (pytester.path / "reports" / "certificate.html").read_text(encoding="utf-8")
