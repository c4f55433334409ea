"""A persistent journal of answers: re-runs and repeated examples cost nothing,
an interrupted run resumes, and xdist workers share what each has asked.

One SQLite file (WAL mode, safe for concurrent workers). An entry is keyed by
the sha256 of everything that determines an answer: the model's identity
(with its weight digests), the calibrator and its parameters, the sample
(id and content digest), the composition with the noise versions, the run
seed and the severity scale. Models that do not identify their weights are
never journaled: a changed model must not be answered from an old journal.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

from .._canonical import sha256_json

__all__ = ["AnswerJournal", "journal_scope", "MISSING"]

MISSING = object()
"""Returned by :meth:`AnswerJournal.get_many` for keys never journaled."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    answer TEXT,
    error TEXT
)
"""


def journal_scope(model_description: Mapping[str, Any], calibrator: Mapping[str, Any], extra: Mapping[str, Any]) -> Optional[str]:
    """A digest of what every answer of a run depends on, or None when the model cannot be identified.

    A model is identified when its ``describe()`` reports a digest of its
    weights (any key containing ``sha256`` or ``digest``).
    """
    if not any(("sha256" in k or "digest" in k) and v for k, v in model_description.items()):
        return None
    stated = {"model": model_description, "calibrator": calibrator, **extra}
    return sha256_json(json.loads(json.dumps(stated, default=str)))  # str() of what is not JSON


_BUSY_SECONDS = 60.0
"""How long a process waits for another one holding the journal's lock."""


def _when_unlocked(step: Callable[[], Any]) -> None:
    """Run ``step``, retrying while another process holds the lock that sqlite's busy timeout does not
    cover (switching a new file to WAL mode while a second worker opens it)."""
    deadline = time.monotonic() + _BUSY_SECONDS
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class AnswerJournal:
    """Answers by key in a SQLite file shared by processes."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=_BUSY_SECONDS, isolation_level=None)
        _when_unlocked(lambda: self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
                       or self._db.execute("PRAGMA journal_mode=WAL"))
        self._db.execute("PRAGMA synchronous=NORMAL")
        _when_unlocked(lambda: self._db.execute(_SCHEMA))

    @staticmethod
    def key(scope: str, sample_key: str, composition_key: str) -> str:
        """The entry key of one answer."""
        return sha256_json([scope, sample_key, composition_key])

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """key -> (answer, error) for the journaled keys among ``keys``."""
        keys = list(keys)
        found: dict[str, Any] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = self._db.execute(
                f"SELECT key, answer, error FROM answers WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            found.update({k: (a, e) for k, a, e in rows})
        return found

    def put_many(self, entries: Iterable[tuple[str, Optional[str], Optional[str]]]) -> None:
        """Record (key, answer, error) entries in one transaction."""
        entries = list(entries)
        if not entries:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?)", entries)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        self._db.close()
