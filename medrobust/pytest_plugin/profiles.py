"""hypothesis settings profiles for model-backed specs.

* ``medrobust`` (what ``suites/`` loads): no deadline (a model call takes what
  it takes), the too-slow and fixture health checks off, derandomized with no
  example database so that the same seed gives the same certificate; few
  examples, since each one evaluates the model on the whole sample set.
* ``medrobust-explore``: random search with the example database, more
  examples; for hunting failures interactively, not for certificates.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis.errors import InvalidArgument

__all__ = ["register_profiles", "PROFILES"]

PROFILES = ("medrobust", "medrobust-explore")

_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
               HealthCheck.differing_executors, HealthCheck.data_too_large]


def register_profiles() -> None:
    """Register both profiles with hypothesis (loading one is the caller's choice).

    Idempotent: a profile already registered (by an earlier call, or redefined by a user's
    conftest) is left as it is, so the pytest plugin and ``medrobust evaluate|replay --plugin
    conftest.py`` may both call it, in any order.
    """
    _register_once("medrobust", deadline=None, suppress_health_check=_SUPPRESSED,
                   derandomize=True, database=None, max_examples=8, print_blob=False)
    _register_once("medrobust-explore", deadline=None, suppress_health_check=_SUPPRESSED,
                   derandomize=False, max_examples=30)


def _register_once(name: str, **values: Any) -> None:
    try:
        settings.get_profile(name)
    except InvalidArgument:
        settings.register_profile(name, **values)
