"""JUnit XML (``--junitxml``): what the certificate concludes, beside pytest's point-estimate outcomes.

Each spec's ``<testcase>`` carries a ``medrobust_conclusion`` property (pass, fail, inconclusive,
error, or none when it did not run: the 95 % interval's conclusion, as the judgement states it),
and the ``<testsuite>`` the run's ``medrobust_verdict``, its reason and the certificate written.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import pytest

from ..run.judgement import spec_conclusion
from ..run.records import SpecRecord

__all__ = ["CONCLUSION_PROPERTY", "VERDICT_PROPERTY", "record_conclusion", "record_verdict"]

CONCLUSION_PROPERTY = "medrobust_conclusion"
VERDICT_PROPERTY = "medrobust_verdict"


def record_conclusion(item: pytest.Item, record: SpecRecord) -> None:
    """Attach the spec's conclusion to its test case (the teardown report carries it to the XML)."""
    conclusion = spec_conclusion(record) or "none"
    item.user_properties[:] = [p for p in item.user_properties if p[0] != CONCLUSION_PROPERTY]
    item.user_properties.append((CONCLUSION_PROPERTY, conclusion))


def _log_xml(config: pytest.Config) -> Optional[Any]:
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # another pytest layout: the test cases still carry their conclusions
        return None
    return config.stash.get(xml_key, None)


def record_verdict(config: pytest.Config, judgement: Any, certificate: Optional[Sequence[Any]] = None) -> None:
    """Add the verdict (and the certificate's files) to the test suite's properties, when XML is written.

    Called before pytest's junitxml plugin writes its file at the session's end.
    """
    xml = _log_xml(config)
    if xml is None:
        return
    xml.add_global_property(VERDICT_PROPERTY, judgement.verdict)
    reason = judgement.reason()
    if reason:
        xml.add_global_property("medrobust_verdict_reason", reason)
    if certificate:
        xml.add_global_property("medrobust_certificate", str(certificate[0]))
