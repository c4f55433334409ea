"""Replacing a certificate's files together: all of them, or none.

:func:`write_together` writes every file to a temporary file in its target's folder (flushed
to disk), and only when all are written renames them over their targets. A failure while
writing (a full disk, a folder in a file's place, no permission) leaves every old file as it
was and removes the temporary files. A rename that fails part way (rare: the folder was
changed under the run) puts back the files already replaced, from hard links (or copies)
of the old ones made before the first rename.

What remains: the renames are one system call each, not one for all; a process killed (or a
machine that loses power) between the first and the last rename leaves the files of two
runs side by side, which ``medrobust verify`` reports (the answers file's sha256 or the twins
differ). That window is the time of two renames in one folder, microseconds.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Mapping, Optional

__all__ = ["write_together"]


def write_together(files: Mapping[Path, bytes]) -> None:
    """Write ``files`` (path -> content) so that either all of them are replaced or none is.

    Raises:
        OSError: The write that failed, after every target was left (or put back) as it was.
    """
    staged: dict[Path, Path] = {}
    try:
        for path, content in files.items():
            staged[path] = _write_temporary(path, content)
        _replace_all(staged)
    finally:
        for temporary in staged.values():
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)


def _write_temporary(path: Path, content: bytes) -> Path:
    """``content`` in a new temporary file beside ``path``, flushed to disk."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    os.chmod(name, 0o666 & ~_umask())  # what a plain open() would have given, not mkstemp's 0600
    return Path(name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace_all(staged: Mapping[Path, Path]) -> None:
    """Rename each temporary file over its target; on a failure, put back the targets already replaced."""
    backups: dict[Path, Optional[Path]] = {}
    done: list[Path] = []
    try:
        for path in staged:
            backups[path] = _backup(path)
        for path, temporary in staged.items():
            os.replace(temporary, path)
            done.append(path)
    except BaseException:
        for path in reversed(done):
            with contextlib.suppress(OSError):
                old = backups[path]
                if old is None:
                    path.unlink()
                else:
                    os.replace(old, path)
                    backups[path] = None
        raise
    finally:
        for old in backups.values():
            if old is not None:
                with contextlib.suppress(OSError):
                    old.unlink()


def _backup(path: Path) -> Optional[Path]:
    """A hard link (or else a copy) of the file at ``path`` beside it, or None when there is no file."""
    if not path.is_file():
        return None
    name = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.old")
    try:
        os.link(path, name)
    except OSError:
        shutil.copy2(path, name)
    return name
