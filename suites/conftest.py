"""The robustness specs' conftest.

Its ``pytest_plugins`` line activates medrobust's pytest plugin for ``pytest suites/``: the one line a
user's own repository needs too, in its rootdir ``conftest.py`` (README, "Activating medrobust").
It also loads medrobust's hypothesis profile: no deadline, derandomized, no example database, so the
same seed gives the same certificate. Set MEDROBUST_HYPOTHESIS_PROFILE to ``medrobust-explore`` for an
open-ended random search."""

import os

from hypothesis import settings

pytest_plugins = ["medrobust.pytest_plugin"]

settings.load_profile(os.environ.get("MEDROBUST_HYPOTHESIS_PROFILE", "medrobust"))
