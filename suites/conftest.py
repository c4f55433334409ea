"""Robustness specs load medrobust's hypothesis profile: no deadline, derandomized, no example
database, so the same seed gives the same certificate. Set MEDROBUST_HYPOTHESIS_PROFILE to
``medrobust-explore`` for an open-ended random search."""

import os

from hypothesis import settings

settings.load_profile(os.environ.get("MEDROBUST_HYPOTHESIS_PROFILE", "medrobust"))
