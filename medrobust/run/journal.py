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

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

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


def journal_scope(model_identity: Mapping[str, Any], calibrator: Mapping[str, Any], extra: Mapping[str, Any]) -> Optional[str]:
    """A digest of what every answer of a run depends on, or None when the model cannot be identified.

    A model is identified when its ``identity()`` reports a digest of its
    weights (any key containing ``sha256`` or ``digest``).
    """
    if not any(("sha256" in k or "digest" in k) and v for k, v in model_identity.items()):
        return None
    text = json.dumps({"model": model_identity, "calibrator": calibrator, **extra}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class AnswerJournal:
    """Answers by key in a SQLite file shared by processes."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    @staticmethod
    def key(scope: str, sample_key: str, composition_key: str) -> str:
        """The entry key of one answer."""
        return hashlib.sha256(f"{scope}\x1f{sample_key}\x1f{composition_key}".encode()).hexdigest()

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
