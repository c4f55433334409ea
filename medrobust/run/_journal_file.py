"""The answer journal's file: opening and checking it, its schema, and the secret kept beside it.

Private to :mod:`medrobust.run.journal` (which explains the scheme) and its commands.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Optional

from ..errors import JournalError

__all__ = ["FORMAT", "FIX", "key_path", "when_unlocked", "refuse", "connect", "fingerprint", "read_secret", "meta",
           "count", "journal_secret"]

FORMAT = 2
"""The journal's format: 2 holds scoped, authenticated entries (format 1, a table ``answers`` without
MACs, is left unused in an old file: its entries cannot be verified)."""

_SQLITE_HEADER = b"SQLite format 3\x00"
_TABLES = {"meta", "entries", "answers"}
"""The tables a journal may hold (``answers``: format 1)."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    answer TEXT,
    error TEXT,
    mac TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_scope ON entries (scope);
"""
_KEY_LABEL = b"medrobust answer journal key check"

FIX = "move it aside (or delete it) to start a new journal, or run with --journal none"


def key_path(path: Path | str) -> Path:
    """Where the secret of the journal at ``path`` is kept: ``<path>.key``, beside it."""
    path = Path(path)
    return path.with_name(path.name + ".key")


_BUSY_SECONDS = 60.0
"""How long a process waits for another one holding the journal's lock."""


def when_unlocked(step: Callable[[], Any]) -> Any:
    """Run ``step``, retrying while another process holds the lock that sqlite's busy timeout does not
    cover (switching a new file to WAL mode while a second worker opens it)."""
    deadline = time.monotonic() + _BUSY_SECONDS
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def refuse(path: Path, why: str, fix: str = FIX) -> JournalError:
    return JournalError(f"answer journal {path}: {why}.\n  {fix[0].upper() + fix[1:]}.")


def _check_file(path: Path, create: bool) -> None:
    """Refuse what SQLite would misread, hang on or report cryptically, before it opens the file."""
    if not path.exists():
        if not create:
            raise refuse(path, "no such file", "give the path of an answer journal "
                                               "(default .medrobust/journal.sqlite)")
        return
    if not path.is_file():
        raise refuse(path, "not a regular file", "give the path of a file, or run with --journal none")
    if not os.access(path, os.R_OK | os.W_OK):
        raise refuse(path, "not readable and writable by this user",
                     "fix its permissions, move it aside, or run with --journal none")
    with path.open("rb") as handle:
        header = handle.read(len(_SQLITE_HEADER))
    if header and header != _SQLITE_HEADER:
        raise refuse(path, "not an SQLite file (damaged, or not a journal)")


def connect(path: Path, create: bool) -> sqlite3.Connection:
    """An open, checked connection to the journal at ``path``.

    Raises:
        JournalError: Naming the file, what is wrong and the fix.
    """
    _check_file(path, create)
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(str(path), timeout=_BUSY_SECONDS, isolation_level=None)
    except sqlite3.Error as exc:
        raise refuse(path, f"cannot be opened ({exc})") from None
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        damage = [row[0] for row in db.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        db.close()
        raise refuse(path, f"not a readable SQLite database ({exc}); the file is damaged or truncated") from None
    if damage != ["ok"]:
        db.close()
        raise refuse(path, f"damaged SQLite database ({'; '.join(damage[:3])})")
    if tables - _TABLES:
        db.close()
        raise refuse(path, f"an SQLite database, but not a medrobust answer journal (it holds tables "
                           f"{', '.join(sorted(tables - _TABLES))})",
                     "give another --journal path, or run with --journal none")
    if not tables and not create:
        db.close()
        raise refuse(path, "not a medrobust answer journal (an empty file or database)",
                     "give the path of an answer journal (default .medrobust/journal.sqlite)")
    if create or "entries" not in tables:  # a new journal, or one of format 1: given the tables of this format
        try:
            when_unlocked(lambda: db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
                          or db.execute("PRAGMA journal_mode=WAL"))
            db.execute("PRAGMA synchronous=NORMAL")
            when_unlocked(lambda: db.executescript(_SCHEMA))
            when_unlocked(lambda: db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (str(FORMAT),)))
        except sqlite3.DatabaseError as exc:
            db.close()
            raise refuse(path, f"cannot be written ({exc})") from None
    return db


def fingerprint(secret: bytes) -> str:
    return hmac.new(secret, _KEY_LABEL, hashlib.sha256).hexdigest()


def read_secret(path: Path, keyfile: Path) -> bytes:
    try:
        text = keyfile.read_text(encoding="ascii").strip()
        secret = bytes.fromhex(text)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise refuse(path, f"its key file {keyfile} cannot be read ({type(exc).__name__}: {exc})",
                     f"restore {keyfile}, or move both files aside to start a new journal") from None
    if len(secret) != 32:
        raise refuse(path, f"its key file {keyfile} does not hold a 32-byte key",
                     f"restore {keyfile}, or move both files aside to start a new journal")
    return secret


def _create_secret(keyfile: Path) -> None:
    """Write a new random key to ``keyfile`` (mode 0600) unless another process just did: the key is
    written to a private temporary file and linked into place, so no reader ever sees a partial key."""
    temp = keyfile.with_name(f"{keyfile.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(temp, keyfile)
        except FileExistsError:
            pass
    finally:
        temp.unlink(missing_ok=True)


def meta(db: sqlite3.Connection, name: str) -> Optional[str]:
    row = db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone() if _has_table(db, "meta") else None
    return row[0] if row else None


def _has_table(db: sqlite3.Connection, table: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() is not None


def count(db: sqlite3.Connection, table: str) -> int:
    return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]) if _has_table(db, table) else 0


def journal_secret(path: Path, db: sqlite3.Connection) -> bytes:
    """The journal's key: read from its key file, or made with the journal (or once it holds no entry)."""
    keyfile = key_path(path)
    stored = meta(db, "key_fingerprint")
    if not keyfile.exists():
        if stored is not None and count(db, "entries"):
            raise refuse(path, f"its key file {keyfile} is missing, so none of its {count(db, 'entries')} "
                                f"entries can be verified",
                         f"restore {keyfile}, or clear the journal (`medrobust journal clear {path}`), or move "
                         f"it aside, or run with --journal none")
        _create_secret(keyfile)
    secret = read_secret(path, keyfile)
    mine = fingerprint(secret)
    if stored is None or (stored != mine and not count(db, "entries")):
        when_unlocked(lambda: db.execute("INSERT OR REPLACE INTO meta VALUES ('key_fingerprint', ?)",
                                          (mine,)))
        stored = meta(db, "key_fingerprint")
    if stored != mine:
        raise refuse(path, f"its key file {keyfile} belongs to another journal",
                     f"restore the key file made with this journal, or clear the journal (`medrobust journal "
                     f"clear {path}`), or move both aside, or run with --journal none")
    return secret
