"""A persistent journal of answers: re-runs and repeated examples cost nothing,
an interrupted run resumes, and xdist workers share what each has asked.

One SQLite file (WAL mode, safe for concurrent workers). An entry is keyed by
the sha256 of everything that determines an answer: the run's *scope* (the
model's identity with its weight digests, every model option that can change an
answer, the device type, the calibrator with its parameters and options, the
severity scale; see :func:`journal_scope`), the sample (id and content digest)
and the composition with the noise versions and the run seed. Models that do
not identify their weights are never journaled: a changed model must not be
answered from an old journal.

**Integrity.** Each entry carries ``mac = HMAC-SHA256(secret, canonical JSON of
[FORMAT, key, scope, answer, error])``. The secret is 32 random bytes kept *outside* the journal, in
a sibling file ``<journal>.key`` (created with mode 0600 together with the
journal; its fingerprint, an HMAC of a fixed label, is stored in the journal so
that a key file that belongs to another journal is recognised). An entry is used
only when its MAC verifies; one that does not (an answer edited in the SQLite
file, an entry copied from another journal, a damaged page) is not used, its
sample is asked again, and the run counts it (``rejected``), so the certificate
states it. This detects every change made to the journal file alone; it does not
stop someone who can also read the key file, who could equally edit the model's
answers by other means (the journal is a cache of the run's own answers, not a
notarised record; the certificate's digest and answers file are the record).
A missing key file with entries in the journal stops the run at start-up: the
entries can no longer be verified (move the journal aside, or clear it).

A file that is not a readable journal (random bytes, a truncated database,
another program's SQLite file, a directory) raises :class:`JournalError`
naming the file and the fix, when it is opened, at start-up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from .._canonical import canonical_json, sha256_json
from ..errors import JournalError, PluginError
from ._journal_file import (FORMAT, connect, count, fingerprint, journal_secret, key_path, meta, read_secret,
                            refuse)

__all__ = ["AnswerJournal", "JournalError", "Lookup", "journal_scope", "answer_options", "key_path",
           "journal_info", "verify_journal", "clear_journal", "FORMAT"]


def journal_scope(model_description: Mapping[str, Any], calibrator: Mapping[str, Any],
                  extra: Mapping[str, Any]) -> Optional[str]:
    """A digest of what every answer of a run depends on, or None when the model cannot be identified.

    A model is identified when its ``describe()`` reports a digest of its
    weights (any key containing ``sha256`` or ``digest``).

    Args:
        model_description: The model's description (:func:`medrobust.contract.describe_model`).
        calibrator: The calibrator's description, with its answer-changing options.
        extra: Everything else answers depend on (the model's answer-changing options, the device
            type, the severity scale).
    """
    if not any(("sha256" in k or "digest" in k) and v for k, v in model_description.items()):
        return None
    stated = {"model": model_description, "calibrator": calibrator, **extra}
    return sha256_json(json.loads(json.dumps(stated, default=str)))  # str() of what is not JSON


def answer_options(kind: str, name: str, plugin: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options of a plugin object that can change its answers: ``options`` without the ones it
    declares answer-neutral in ``answer_neutral_options`` (see :mod:`medrobust.contract`).

    Raises:
        PluginError: When the declaration is not a list, tuple or set of option names.
    """
    declared = getattr(plugin, "answer_neutral_options", ())
    if isinstance(declared, str) or not isinstance(declared, (list, tuple, set, frozenset)) or \
            not all(isinstance(n, str) for n in declared):
        raise PluginError(f"{kind} {name!r} ({type(plugin).__name__}): answer_neutral_options must be a tuple of "
                          f"option names (e.g. ('concurrency', 'timeout')), not {declared!r}")
    return {k: v for k, v in sorted(options.items()) if k not in set(declared)}


def _mac(secret: bytes, key: str, scope: str, answer: Optional[str], error: Optional[str]) -> str:
    """HMAC-SHA256 under ``secret`` of the canonical JSON of ``[FORMAT, key, scope, answer, error]``."""
    message = canonical_json([FORMAT, key, scope, answer, error]).encode("utf-8", "surrogatepass")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _valid(secret: bytes, key: Any, scope: Any, answer: Any, error: Any, mac: Any) -> bool:
    """Whether a stored row is well typed and its MAC verifies."""
    if not all(isinstance(v, str) for v in (key, scope, mac)) or \
            not all(v is None or isinstance(v, str) for v in (answer, error)):
        return False
    return hmac.compare_digest(_mac(secret, key, scope, answer, error), mac)


@dataclasses.dataclass(frozen=True)
class Lookup:
    """What the journal holds for some keys.

    Attributes:
        found: key -> (answer, error), for the entries whose MAC verifies.
        rejected: The keys whose entry did not verify (not used: their samples are asked again).
    """

    found: dict[str, tuple[Optional[str], Optional[str]]]
    rejected: tuple[str, ...] = ()


class AnswerJournal:
    """Authenticated answers by key in a SQLite file shared by processes.

    Args:
        path: The journal file; it and its key file are created when missing.

    Raises:
        JournalError: When the file is not a readable journal, or its key is missing or foreign.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db = connect(self.path, create=True)
        try:
            self._secret = journal_secret(self.path, self._db)
        except BaseException:
            self._db.close()
            raise

    @staticmethod
    def key(scope: str, sample_key: str, composition_key: str) -> str:
        """The entry key of one answer."""
        return sha256_json([scope, sample_key, composition_key])

    def _mac(self, key: str, scope: str, answer: Optional[str], error: Optional[str]) -> str:
        return _mac(self._secret, key, scope, answer, error)

    def _valid(self, key: Any, scope: Any, answer: Any, error: Any, mac: Any) -> bool:
        return _valid(self._secret, key, scope, answer, error, mac)

    def get_many(self, keys: Iterable[str]) -> Lookup:
        """The verified entries among ``keys``, and the keys whose entry did not verify."""
        keys = list(keys)
        found: dict[str, tuple[Optional[str], Optional[str]]] = {}
        rejected: list[str] = []
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            for k, scope, a, e, mac in self._read(
                    f"SELECT key, scope, answer, error, mac FROM entries WHERE key IN ({','.join('?' * len(chunk))})",
                    chunk):
                if self._valid(k, scope, a, e, mac):
                    found[k] = (a, e)
                else:
                    rejected.append(k)
        return Lookup(found, tuple(rejected))

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, list(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise refuse(self.path, f"could not be read during the run ({exc})") from None

    def put_many(self, scope: str, entries: Iterable[tuple[str, Optional[str], Optional[str]]]) -> None:
        """Record (key, answer, error) entries of ``scope`` in one transaction, each with its MAC."""
        rows = [(k, scope, a, e, self._mac(k, scope, a, e)) for k, a, e in entries]
        if not rows:
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise refuse(self.path, f"could not be written during the run ({exc})") from None

    def __len__(self) -> int:
        return count(self._db, "entries")

    def close(self) -> None:
        self._db.close()


# -- the `medrobust journal` commands ----------------------------------------------------------------

def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


def journal_info(path: Path | str) -> dict[str, Any]:
    """What the journal at ``path`` holds: entries by scope, size on disk, its key file.

    Raises:
        JournalError: When ``path`` is not a readable journal.
    """
    path = Path(path)
    size = _size(path) if path.is_file() else 0  # before this connection adds its shared-memory file
    db = connect(path, create=False)
    try:
        scopes = [{"scope": s, "entries": int(n)} for s, n in
                  db.execute("SELECT scope, COUNT(*) FROM entries GROUP BY scope ORDER BY scope")]
        keyfile = key_path(path)
        return {"path": str(path), "format": int(meta(db, "format") or FORMAT), "entries": count(db, "entries"),
                "scopes": scopes, "older_format_entries": count(db, "answers"), "bytes": size,
                "key_file": str(keyfile), "key_file_present": keyfile.exists()}
    finally:
        db.close()


def verify_journal(path: Path | str) -> dict[str, Any]:
    """Check every entry's MAC with the journal's key.

    Returns:
        ``{"path", "entries", "verified", "rejected": [keys...], "reason"}``; ``reason`` says why no
        entry could be checked (a missing or foreign key file), else it is empty.

    Raises:
        JournalError: When ``path`` is not a readable journal.
    """
    path = Path(path)
    db = connect(path, create=False)
    try:
        rows = db.execute("SELECT key, scope, answer, error, mac FROM entries ORDER BY key").fetchall()
        keyfile = key_path(path)
        result: dict[str, Any] = {"path": str(path), "entries": len(rows), "verified": 0, "rejected": [],
                                  "reason": ""}
        if not keyfile.exists():
            result.update(rejected=[r[0] for r in rows], reason=f"key file {keyfile} is missing")
            return result
        secret = read_secret(path, keyfile)
        if meta(db, "key_fingerprint") not in (None, fingerprint(secret)):
            result.update(rejected=[r[0] for r in rows], reason=f"key file {keyfile} belongs to another journal")
            return result
        for row in rows:
            if _valid(secret, *row):
                result["verified"] += 1
            else:
                result["rejected"].append(row[0])
        return result
    finally:
        db.close()


def clear_journal(path: Path | str, scope: Optional[str] = None) -> int:
    """Remove the journal's entries (those of ``scope`` only, when given: a scope or a unique prefix of
    one, as ``journal_info`` lists them) and any format-1 entries; returns how many were removed.

    Raises:
        JournalError: When ``path`` is not a readable journal, or ``scope`` matches no scope or several.
    """
    path = Path(path)
    db = connect(path, create=False)
    try:
        if scope is None:
            removed = count(db, "entries") + count(db, "answers")
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM entries")
            db.execute("DROP TABLE IF EXISTS answers")
            db.execute("DELETE FROM meta WHERE name = 'key_fingerprint'")  # a new key may be made with it
            db.execute("COMMIT")
        else:
            matches = [s for (s,) in db.execute(
                "SELECT DISTINCT scope FROM entries WHERE substr(scope, 1, length(?1)) = ?1", (scope,))]
            if len(matches) != 1:
                what = "no scope" if not matches else f"{len(matches)} scopes"
                raise refuse(path, f"--scope {scope} matches {what}",
                             f"give a scope as `medrobust journal info {path}` lists it")
            removed = int(db.execute("DELETE FROM entries WHERE scope = ?", (matches[0],)).rowcount)
        db.execute("VACUUM")
        return removed
    except sqlite3.DatabaseError as exc:
        raise refuse(path, f"could not be cleared ({exc})") from None
    finally:
        db.close()
