"""hypothesis settings profiles for model-backed specs.

* ``medrobust`` (what ``suites/`` loads): no deadline (a model call takes what
  it takes), the too-slow and fixture health checks off, derandomized with no
  example database so that the same seed gives the same certificate; few
  examples, since each one evaluates the model on the whole sample set.
* ``medrobust-explore``: random search with the example database, more
  examples; for hunting failures interactively, not for certificates.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

__all__ = ["register_profiles", "PROFILES"]

PROFILES = ("medrobust", "medrobust-explore")

_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
               HealthCheck.differing_executors, HealthCheck.data_too_large]


def register_profiles() -> None:
    """Register both profiles with hypothesis (loading one is the caller's choice)."""
    settings.register_profile("medrobust", deadline=None, suppress_health_check=_SUPPRESSED,
                              derandomize=True, database=None, max_examples=8, print_blob=False)
    settings.register_profile("medrobust-explore", deadline=None, suppress_health_check=_SUPPRESSED,
                              derandomize=False, max_examples=30)
