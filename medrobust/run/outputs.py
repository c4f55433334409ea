"""Where a run writes its certificate, and the start-up check that it can.

``--certificate BASE`` names three files: ``BASE.json``, ``BASE.html`` and
``BASE.answers.jsonl`` (a ``.json`` or ``.html`` suffix on ``BASE`` is dropped, any other
dot stays: ``reports/v1.5`` gives ``reports/v1.5.json``). :func:`check_certificate_path`
runs before the first spec, so that a certificate that could not be written fails the
run at once, not after every spec ran; it creates nothing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

from ..errors import OptionError

__all__ = ["ANSWERS_SUFFIX", "certificate_paths", "check_certificate_path"]

ANSWERS_SUFFIX = ".answers.jsonl"
"""The answers file's name after the certificate's: ``<base>.answers.jsonl``."""


def certificate_paths(base: "str | Path") -> tuple[Path, Path, Path]:
    """The (JSON twin, HTML view, answers file) paths of ``--certificate base``."""
    stem = Path(base)
    if stem.suffix in (".json", ".html"):
        stem = stem.with_suffix("")
    return (stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".html"),
            stem.with_name(stem.name + ANSWERS_SUFFIX))


def check_certificate_path(base: Optional[str]) -> None:
    """Refuse a ``--certificate`` whose files could not be written, creating nothing.

    The certificate's folder must be a folder that exists and can be written, or one that can be
    created: its nearest existing ancestor is a writable folder. None of the three files may be a
    folder. A temporary file is made and removed in the folder that exists, so that permissions,
    read-only file systems and full disks' quotas show as the write itself would meet them.

    Raises:
        OptionError: Naming the path, what is in the way and the fix.
    """
    if not base:
        return
    paths = certificate_paths(base)
    fix = "give --certificate a path in a folder you can write, or --certificate none"
    folder = paths[0].parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OptionError(f"--certificate {base}: cannot write {paths[0]}: {existing} is not a folder; {fix}")
    for path in paths:
        if path.is_dir():
            raise OptionError(f"--certificate {base}: cannot write {path}: a folder of that name is in the "
                              f"way; move it or {fix}")
    what = "write in" if existing == folder else f"create {folder} in"
    try:
        if not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(13, "permission denied")
        with tempfile.TemporaryFile(dir=existing, prefix=".medrobust-write-check-"):
            pass
    except OSError as exc:
        raise OptionError(f"--certificate {base}: cannot {what} {existing}: {exc.strerror or exc}; "
                          f"{fix}") from None
