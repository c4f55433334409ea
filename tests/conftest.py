"""Shared fixtures for medrobust's own tests."""

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

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
