"""Reading a certificate file: which bytes count, and what is not a certificate.

Which bytes are compared: the digests are taken over the canonical JSON of the
*parsed* data, never over the file's bytes, so whitespace and line endings in
the JSON twin do not matter. Before parsing, one leading UTF-8 byte order mark is
removed and CRLF line endings become LF (:func:`normalised_text`); the HTML page is
compared with a fresh rendering after the same normalisation (the rendering holds
no carriage return: the view shows a CR in model text as a visible ``\\r``); the
answers file's sha256 is taken over its bytes as they are and, if that differs,
over its bytes without a leading BOM and with CRLF as LF. That is lossless: the
answers file is canonical JSON Lines, whose text holds no raw CR, and the
certificate's JSON holds none either (a CR inside a string is written ``\\r``). So a
certificate moved through Windows tooling (CRLF conversion, a BOM added) still
verifies, and says so in a note; any other change of a byte still shows.

What cannot be read as a certificate raises :class:`~medrobust.errors.UnreadableCertificate`
(``medrobust verify`` exits 2): a missing file, a folder, a FIFO or device (never read: it
could hang), a file over :data:`MAX_CERTIFICATE_BYTES`, text that is not UTF-8, JSON that
does not parse or nests deeper than :data:`MAX_DEPTH`, JSON without a top-level ``digest``
and a ``medrobust.certificate/N`` ``schema``.
"""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path
from typing import Any

from ..errors import UnreadableCertificate

__all__ = ["MAX_CERTIFICATE_BYTES", "MAX_DEPTH", "CERTIFICATE_SCHEMA_PREFIX", "normalised_text", "unix_text",
           "read_text", "is_html", "parse_certificate", "embedded_json", "load_certificate", "answers_digests"]

MAX_CERTIFICATE_BYTES = 512 * 1024 * 1024
"""The largest certificate file read (a full benchmark's is a few megabytes)."""

MAX_DEPTH = 100
"""The deepest nesting of a certificate's JSON (a real one nests about ten levels)."""

CERTIFICATE_SCHEMA_PREFIX = "medrobust.certificate/"

_BOM = "\ufeff"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def embedded_json(html: str) -> dict[str, Any]:
    """The certificate data embedded in an HTML view (the ``certificate-data`` element).

    Raises:
        UnreadableCertificate: No such element, or its content is not JSON.
    """
    from .embed import embedded_certificate

    try:
        return embedded_certificate(html)
    except ValueError as exc:
        raise UnreadableCertificate(str(exc)) from None


def _depth(value: Any) -> int:
    """How deep ``value`` nests (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level + 1)
            if deepest > MAX_DEPTH:
                return deepest
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_certificate(text: "str | dict[str, Any]", where: str) -> dict[str, Any]:
    """Certificate data from JSON ``text`` (or parsed data), ``where`` naming it in errors.

    Raises:
        UnreadableCertificate: Not JSON, nested deeper than :data:`MAX_DEPTH`, no ``digest`` or no
            ``medrobust.certificate/N`` ``schema``.
    """
    try:
        data = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError as exc:
        raise UnreadableCertificate(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:
        raise UnreadableCertificate(f"{where}: JSON nested too deeply to read; not a medrobust certificate "
                                    f"(those nest about ten levels)") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise UnreadableCertificate(f"{where}: not readable JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("digest"), str):
        raise UnreadableCertificate(f"{where}: not a medrobust certificate (no top-level 'digest')")
    schema = data.get("schema")
    if not isinstance(schema, str) or not schema.startswith(CERTIFICATE_SCHEMA_PREFIX):
        raise UnreadableCertificate(f"{where}: not a medrobust certificate (its 'schema' is {schema!r}, not "
                                    f"{CERTIFICATE_SCHEMA_PREFIX}N)")
    if _depth(data) > MAX_DEPTH:
        raise UnreadableCertificate(f"{where}: JSON nested more than {MAX_DEPTH} levels deep; not a medrobust "
                                    f"certificate (those nest about ten levels)")
    return data


def normalised_text(raw: bytes, where: str) -> tuple[str, list[str]]:
    """The UTF-8 text of a certificate file without a leading byte order mark and with CRLF as LF, and
    notes saying what was normalised (what Windows tools do to a text file; the module docstring says
    why this hides no change).

    Raises:
        UnreadableCertificate: Not UTF-8 (UTF-16 is named as such).
    """
    if raw.startswith(_UTF16_BOMS):
        raise UnreadableCertificate(f"{where}: UTF-16 text, not UTF-8; save it as UTF-8 (a certificate is "
                                    f"written as UTF-8)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableCertificate(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    notes = []
    if text.startswith(_BOM):
        notes.append(f"{where}: a UTF-8 byte order mark was ignored")
    if "\r\n" in text:
        notes.append(f"{where}: CRLF line endings were read as LF")
    return unix_text(text), notes


def unix_text(text: str) -> str:
    """``text`` without a leading byte order mark, with CRLF as LF."""
    return text.removeprefix(_BOM).replace("\r\n", "\n")


def _read_bytes(path: Path, limit: int = MAX_CERTIFICATE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (never a FIFO or device, which could hang)."""
    try:
        info = path.stat()
    except OSError as exc:
        raise UnreadableCertificate(f"cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableCertificate(f"{path} is a folder; give the certificate's .json or .html file")
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableCertificate(f"{path} is not a regular file (a FIFO, socket or device); give the "
                                    f"certificate's .json or .html file")
    if info.st_size > limit:
        raise UnreadableCertificate(f"{path} is {info.st_size} bytes, more than the {limit} a certificate "
                                    f"may be; is it a certificate?")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UnreadableCertificate(f"cannot read {path}: {exc.strerror or exc}") from None


def read_text(path: Path) -> tuple[str, list[str]]:
    """The normalised text of certificate file ``path`` and notes on what was normalised."""
    return normalised_text(_read_bytes(path), str(path))


def is_html(path: Path, text: str) -> bool:
    """Whether ``path`` (holding ``text``) is an HTML view rather than a JSON twin."""
    if path.suffix.lower() in (".html", ".htm"):
        return True
    return path.suffix.lower() != ".json" and not text.lstrip().startswith("{")


def load_certificate(path: "str | Path") -> dict[str, Any]:
    """The certificate data of a JSON twin or an HTML view (which embeds the JSON).

    Raises:
        UnreadableCertificate: Missing file, not a regular file, not UTF-8, no embedded data, not JSON,
            nested too deeply, no digest or schema.
    """
    path = Path(path)
    text = read_text(path)[0]
    if is_html(path, text):
        return parse_certificate(embedded_json(text), f"{path} (embedded data)")
    return parse_certificate(text, str(path))


def answers_digests(path: Path, chunk: int = 1 << 20) -> tuple[str, str]:
    """The sha256 of a file's bytes, and of its bytes without a leading UTF-8 BOM and with CRLF as LF,
    read in chunks (an answers file can be large).

    Raises:
        UnreadableCertificate: Not a regular file (a FIFO would hang the read).
        OSError: It cannot be read.
    """
    if not stat.S_ISREG(path.stat().st_mode):
        raise UnreadableCertificate("not a regular file")
    raw, normal = hashlib.sha256(), hashlib.sha256()
    first, carry = True, b""
    with path.open("rb") as f:
        while block := f.read(chunk):
            raw.update(block)
            block = carry + block
            if first:
                block, first = block.removeprefix(b"\xef\xbb\xbf"), False
            carry = b"\r" if block.endswith(b"\r") else b""
            normal.update(block[:len(block) - len(carry)].replace(b"\r\n", b"\n"))
    normal.update(carry)
    return raw.hexdigest(), normal.hexdigest()
