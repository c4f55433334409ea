"""Shared fixtures for medrobust's own tests."""

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
