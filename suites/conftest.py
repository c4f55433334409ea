"""The robustness specs' conftest.

Its ``pytest_plugins`` line activates medrobust's pytest plugin for ``pytest suites/``: the one line a
user's own repository needs too, in its rootdir ``conftest.py`` (README, "Activating medrobust").
It also loads medrobust's hypothesis profile: no deadline, derandomized, no example database, so the
same seed gives the same certificate. Set MEDROBUST_HYPOTHESIS_PROFILE to ``medrobust-explore`` for an
open-ended random search; ``--hypothesis-profile NAME`` wins over both."""

import os

import pytest
from hypothesis import settings

pytest_plugins = ["medrobust.pytest_plugin"]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Load the profile once medrobust's plugin (imported after this module, which registers the profiles)
    is there, and before hypothesis' own plugin loads a ``--hypothesis-profile``."""
    settings.load_profile(os.environ.get("MEDROBUST_HYPOTHESIS_PROFILE", "medrobust"))
