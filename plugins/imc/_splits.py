"""Which split a sample came from, and the guard that keeps test samples out of tuning and fitting.

A sample records its split in one of three ways, read in this order:

* ``metadata["split"]``: a dataset that states it (a third party may);
* its id, ``NAME/SPLIT/INDEX``: the embedded ``phantom-vqa`` names samples so
  (``phantom-vqa/test/00017``);
* ``metadata["release_split"]``: the public-format loaders (VQA-RAD, SLAKE,
  PathVQA, JSONL) keep the release's own split name; the harness's ``reference``
  split is the release's training split (``train``), its ``test`` the release's test split.

Nothing is added to a sample, so no dataset digest changes.
"""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence

import medrobust

__all__ = ["split_of", "require_not_test", "TEST_SPLITS"]

TEST_SPLITS = ("test",)
"""Split names that hold evaluation samples (the harness's and the releases')."""

_ID = re.compile(r"^[^/]+/(?P<split>[A-Za-z_]+)/\d+$")


def split_of(sample: Any) -> Optional[str]:
    """The split ``sample`` records (see the module), or None when it records none."""
    metadata = getattr(sample, "metadata", None) or {}
    stated = metadata.get("split")
    if isinstance(stated, str) and stated:
        return stated
    match = _ID.match(str(getattr(sample, "id", "")))
    if match:
        return match["split"]
    release = metadata.get("release_split")
    return release if isinstance(release, str) and release else None


def require_not_test(samples: Sequence[Any], who: str, unknown_ok: bool = False) -> None:
    """Refuse samples of a test split (and, unless ``unknown_ok``, samples that record no split).

    Every entry point that chooses a default (``tune_pdc``, ``_sms_tune``) calls it with
    ``unknown_ok=False``: it must be able to tell that it reads no test sample. A
    calibrator's ``fit`` calls it with ``unknown_ok=True``: a third party's samples may
    record no split, but a sample known to be a test sample is never fitted on.

    Raises:
        medrobust.OptionError: Naming how many samples, a few of their ids, and the fix.
    """
    test = [s for s in samples if split_of(s) in TEST_SPLITS]
    unknown = [] if unknown_ok else [s for s in samples if split_of(s) is None]
    for found, what in ((test, "come from the test split"), (unknown, "record no split")):
        if found:
            ids = ", ".join(str(s.id) for s in found[:3]) + (", ..." if len(found) > 3 else "")
            raise medrobust.OptionError(
                f"{who}: {len(found)} of the {len(samples)} samples it was given {what} ({ids}); it reads only "
                f"the reference split (dataset.samples('reference')), so that nothing is tuned or fitted on "
                f"the data it is measured on")
