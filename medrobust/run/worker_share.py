"""Work that xdist workers of one run should do once, not once per worker.

The first worker to ask computes the result and leaves it in a file named after
the run; the others wait on a lock and read it. Used for the certificate's
evidence probes (repeatability, shortcut baselines), which ask the model
hundreds of extra questions.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

__all__ = ["share_path", "compute_once"]


def share_path(run_id: str, what: str) -> Path:
    """Where the workers of run ``run_id`` share the result named ``what``."""
    safe = "".join(c for c in f"{run_id}-{what}" if c.isalnum() or c in "-_")
    return Path(tempfile.gettempdir()) / f"medrobust-{safe}.json"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no sharing, every worker computes
        yield
        return
    with open(path.with_suffix(".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def compute_once(path: Optional[Path], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``compute()``, or what another worker of the same run already computed at ``path``.

    ``path`` None (not under xdist) computes. A result that cannot be read back
    (a worker died while writing) is computed again.
    """
    if path is None:
        return compute()
    with _locked(path):
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                pass
        result = compute()
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(result), encoding="utf-8")
        partial.replace(path)
        return result
