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
    """Load the profile before hypothesis' own plugin loads a ``--hypothesis-profile``, and after this
    module (the plugin is imported after it, and registers the profiles when it is)."""
    from medrobust.pytest_plugin.profiles import register_profiles

    register_profiles()  # idempotent: done already, unless the plugin is off (-p no:medrobust.pytest_plugin)
    settings.load_profile(os.environ.get("MEDROBUST_HYPOTHESIS_PROFILE", "medrobust"))
