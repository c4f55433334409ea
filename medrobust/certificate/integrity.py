"""``medrobust verify``: recompute a certificate's digests and say exactly what differs.

A certificate is its JSON twin or its HTML view, which embeds the same JSON in
``<script type="application/json" id="certificate-data">``. Verification
recomputes every section digest and the overall digest from the content, and,
when both twins lie side by side, compares the HTML's embedded data with the
JSON twin path by path and the HTML's visible text with a fresh rendering of
its embedded data. Digests show accidental or careless edits; anyone who can
rewrite the file can also rewrite its digests, so they are no signature.

The canonical form a digest is taken over follows the certificate's ``schema``:
RFC 8785 from ``medrobust.certificate/3`` on, Python's ``json.dumps`` form
(:func:`_legacy_canonical_json`) for ``/1`` and ``/2``, so that older
certificates still verify.

Which bytes are compared, and why a certificate moved through Windows tooling still
verifies: :mod:`.reading`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any, Callable, Optional

from .._canonical import canonical_json
from .record import DIGEST_EXCLUDES, SCHEMA, compute_digest, section_digests
from ..errors import UnreadableCertificate
from .reading import (MAX_CERTIFICATE_BYTES, MAX_DEPTH, answers_digests, embedded_json, is_html,
                      load_certificate, normalised_text, parse_certificate, read_text, unix_text)

__all__ = ["UnreadableCertificate", "Verification", "check_digests", "canonical_form", "LEGACY_SCHEMAS",
           "load_certificate", "embedded_json", "json_differences", "normalised_text", "verify",
           "MAX_CERTIFICATE_BYTES", "MAX_DEPTH"]

MAX_DIFFERENCES = 50

LEGACY_SCHEMAS = ("medrobust.certificate/1", "medrobust.certificate/2")
"""Schemas whose digests were taken over :func:`_legacy_canonical_json` instead of RFC 8785."""

_SURROGATES = re.compile("[\ud800-\udfff]")


def _legacy_canonical_json(data: Any) -> str:
    """The canonical form of schemas /1 and /2, kept only to verify them: Python's
    ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` after NaN and
    infinities became null and keys ``str(key)``, with lone surrogates escaped as ``\\uxxxx``."""
    text = json.dumps(_finite(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return _SURROGATES.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def canonical_form(data: dict[str, Any]) -> Callable[[Any], str]:
    """The canonical form the digests of certificate ``data`` are taken over, by its ``schema``."""
    return _legacy_canonical_json if data.get("schema") in LEGACY_SCHEMAS else canonical_json


def _normal(value: Any) -> Any:
    """What canonical JSON makes of a value (non-finite floats are null), for comparison."""
    return json.loads(canonical_json(value))


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{path}[{json.dumps(key)}]"


def json_differences(a: Any, b: Any, names: tuple[str, str] = ("first", "second"),
                     limit: int = MAX_DIFFERENCES) -> list[str]:
    """JSON paths (``$.specs[0].checks[1].noisy.value``) where ``a`` and ``b`` differ, at most ``limit``.

    A key present on one side only is listed as ``PATH (only in NAME)`` with ``names`` naming the sides.
    """
    out: list[str] = []
    _walk(_normal(a), _normal(b), "$", out, limit, names)
    return out


def _walk(a: Any, b: Any, path: str, out: list[str], limit: int, names: tuple[str, str]) -> None:
    if len(out) >= limit:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(f"{_key(path, key)} (only in the {names[1] if key not in a else names[0]})")
            else:
                _walk(a[key], b[key], _key(path, key), out, limit, names)
            if len(out) >= limit:
                return
    elif isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            _walk(x, y, f"{path}[{i}]", out, limit, names)
        if len(a) != len(b) and len(out) < limit:
            out.append(f"{path} (length {len(a)} against {len(b)})")
    elif type(a) is not type(b) or a != b:
        out.append(path)


@dataclasses.dataclass
class Verification:
    """What ``medrobust verify`` found.

    Attributes:
        path: The file verified.
        stored_digest / computed_digest: The digest in the file and the one its content gives.
        changed_sections: Top-level sections whose stored section digest no longer matches.
        unlisted_sections / missing_sections: Covered sections without a stored digest, and stored
            digests of sections that are gone.
        twin: The other twin, when it lies beside ``path``.
        twin_differences: JSON paths where the HTML's embedded data and the JSON twin differ.
        twin_unreadable: Why the twin could not be read, if so.
        view_differs: The HTML's visible text is not the rendering of its embedded data
            (None: no HTML checked, or made by another harness version so not comparable).
        answers_file: The answers file the certificate names (section ``answers``), beside it.
        answers_problem: Why that file does not bear the certificate out (missing, another sha256).
        notes: Anything else worth saying.
    """

    path: Path
    stored_digest: str
    computed_digest: str
    changed_sections: list[str]
    unlisted_sections: list[str]
    missing_sections: list[str]
    twin: Optional[Path] = None
    twin_differences: list[str] = dataclasses.field(default_factory=list)
    twin_unreadable: Optional[str] = None
    view_differs: Optional[bool] = None
    answers_file: Optional[Path] = None
    answers_problem: Optional[str] = None
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def valid(self) -> bool:
        """True when every digest matches, the twins (if both present) agree and the answers file
        (if the certificate names one) has the sha256 the certificate states."""
        return (self.stored_digest == self.computed_digest and not self.changed_sections
                and not self.unlisted_sections and not self.missing_sections and not self.twin_differences
                and self.twin_unreadable is None and not self.view_differs and self.answers_problem is None)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (paths as text)."""
        data = dataclasses.asdict(self)
        data.update(path=str(self.path), twin=str(self.twin) if self.twin else None, valid=self.valid,
                    answers_file=str(self.answers_file) if self.answers_file else None)
        return data

    def problems(self) -> list[str]:
        """Why the certificate does not verify, one short line each (empty when it is valid)."""
        out = []
        if self.stored_digest != self.computed_digest:
            out.append("its digest does not match its content")
        out += [f"section {name!r} changed" for name in self.changed_sections]
        out += [f"section {name!r} has no stored digest" for name in self.unlisted_sections]
        out += [f"section {name!r} is missing" for name in self.missing_sections]
        if self.twin_unreadable:
            out.append(f"its twin {self.twin} is unreadable: {self.twin_unreadable}")
        if self.twin_differences:
            shown = ", ".join(self.twin_differences[:5]) + (" ..." if len(self.twin_differences) > 5 else "")
            out.append(f"its HTML and JSON twins differ at {shown}")
        if self.view_differs:
            out.append("the HTML's visible text differs from the rendering of its data")
        if self.answers_problem:
            out.append(self.answers_problem)
        return out

    def lines(self) -> list[str]:
        """A human-readable account, first line ``valid`` or ``TAMPERED``."""
        out = [f"{'valid' if self.valid else 'TAMPERED'}: {self.path}"]
        if self.stored_digest == self.computed_digest:
            out.append(f"  digest {self.stored_digest} matches its content")
        else:
            out.append(f"  digest does not match: stored {self.stored_digest}, content gives {self.computed_digest}")
        for name in self.changed_sections:
            out.append(f"  section {name!r} changed: its content no longer matches section_digests[{name!r}]")
        for name in self.unlisted_sections:
            out.append(f"  section {name!r} has no stored digest (added after the certificate was made?)")
        for name in self.missing_sections:
            out.append(f"  section {name!r} has a stored digest but is missing")
        if self.twin is not None:
            if self.twin_unreadable:
                out.append(f"  twin {self.twin}: unreadable: {self.twin_unreadable}")
            elif self.twin_differences:
                out.append("  the HTML's embedded data and the JSON twin differ at:")
                out += [f"    {p}" for p in self.twin_differences]
            else:
                out.append(f"  twin {self.twin} holds the same data")
        if self.view_differs:
            out.append("  the HTML's visible text differs from the rendering of its embedded data")
        if self.answers_problem:
            out.append(f"  {self.answers_problem}")
        elif self.answers_file is not None:
            out.append(f"  answers file {self.answers_file} matches the certificate's sha256")
        out += [f"  note: {n}" for n in self.notes]
        return out


def _twin(path: Path) -> Optional[Path]:
    suffix = path.suffix.lower()
    other = path.with_suffix(".json" if suffix in (".html", ".htm") else ".html") if suffix in (
        ".html", ".htm", ".json") else None
    return other if other is not None and other.exists() else None


def _view_check(html: str, data: dict[str, Any], result: Verification) -> None:
    """Re-render the embedded data and compare with the page.

    A page that differs from its rendering is tampered when it was made by the same view code
    (``harness.view_sha256``; certificates without it: the same version and git revision);
    made by other view code, the page cannot be re-rendered exactly, so that is only noted.
    """
    from .. import __version__
    from .record import _git_revision, view_digest
    from .render import render_html

    harness = data.get("harness") if isinstance(data.get("harness"), dict) else {}
    if harness.get("view_sha256"):
        made_by: tuple[Any, Any] = (f"view code {str(harness['view_sha256'])[:12]}", harness["view_sha256"])
        here: tuple[Any, Any] = (f"view code {view_digest()[:12]}", view_digest())
    else:
        made_by = (harness.get("version"), harness.get("git_revision"))
        here = (__version__, _git_revision())
    try:
        fresh: Optional[str] = render_html(data)
    except Exception as exc:  # a structure the template cannot render
        fresh = None
        problem = f"the embedded data cannot be rendered: {type(exc).__name__}: {exc}"
    if fresh is not None and unix_text(fresh) == html:  # ``html`` was normalised when read
        result.view_differs = False
        return
    if made_by != here:
        result.notes.append(f"view not verified: the page was made by {made_by[0]}, this medrobust has "
                            f"{here[0]}, so its visible text cannot be re-rendered exactly; the embedded "
                            f"data was verified")
        return
    result.view_differs = True
    if fresh is None:
        result.notes.append(problem)
        return
    line = next((i for i, (x, y) in enumerate(zip(html.splitlines(), fresh.splitlines())) if x != y),
                min(len(html.splitlines()), len(fresh.splitlines())))
    result.notes.append(f"the page first departs from its rendering at line {line + 1}")
    if not harness.get("view_sha256") and str(here[1]).endswith("+dirty"):
        result.notes.append("this harness has uncommitted changes: an edited template also makes the page differ")


def check_digests(data: dict[str, Any], path: "str | Path" = "<data>") -> Verification:
    """Recompute the section digests and the overall digest of certificate ``data`` (no twins, no view)."""
    stored = data.get("section_digests") if isinstance(data.get("section_digests"), dict) else {}
    canonical = canonical_form(data)
    computed = section_digests(data, canonical)
    result = Verification(
        Path(path), str(data.get("digest")), compute_digest(data, canonical),
        changed_sections=sorted(k for k in computed if k in stored and stored[k] != computed[k]),
        unlisted_sections=sorted(k for k in computed if k not in stored),
        missing_sections=sorted(k for k in stored if k not in computed and k not in DIGEST_EXCLUDES))
    if "section_digests" not in data:
        result.notes.append("no section_digests (a certificate made before they existed?)")
        result.unlisted_sections = []
    if canonical is _legacy_canonical_json:
        result.notes.append(f"schema {data.get('schema')}: digests recomputed over Python's json.dumps form, "
                            f"as that schema defines them (RFC 8785 from {SCHEMA} on)")
    return result


def verify(path: "str | Path", check_view: bool = True) -> Verification:
    """Verify a certificate file (``.json`` or ``.html``) and its twin beside it.

    Args:
        path: The JSON twin or the HTML view.
        check_view: For an HTML view, also compare its visible text with a fresh
            rendering of its embedded data (only when made by this harness version).

    Raises:
        UnreadableCertificate: ``path`` cannot be read as a certificate.
    """
    path = Path(path)
    text, notes = read_text(path)
    html = is_html(path, text)
    data = parse_certificate(embedded_json(text) if html else text, f"{path} (embedded data)" if html else str(path))
    result = check_digests(data, path)
    result.notes[:0] = notes
    twin = _twin(path)
    if twin is not None:
        result.twin = twin
        try:
            twin_text, twin_notes = read_text(twin)
            other = parse_certificate(embedded_json(twin_text) if not html else twin_text,
                           f"{twin} (embedded data)" if not html else str(twin))
        except UnreadableCertificate as exc:
            result.twin_unreadable = str(exc)
        else:
            result.notes += twin_notes
            embedded, plain = (data, other) if html else (other, data)
            result.twin_differences = json_differences(embedded, plain, ("HTML", "JSON twin"))
            if html is False and check_view:
                _view_check(twin_text, other, result)
    if html and check_view:
        _view_check(text, data, result)
    _answers_check(path, data, result)
    return result


def _answers_check(path: Path, data: dict[str, Any], result: Verification) -> None:
    """Compare the answers file the certificate names (beside it) with the sha256 it states.

    Certificates without an ``answers`` section (older ones) name no file and pass as before."""
    section = data.get("answers")
    if not isinstance(section, dict):
        return
    from .record import ANSWERS_SUFFIX

    answers = path.with_name(path.with_suffix("").name + ANSWERS_SUFFIX)  # named after the certificate, beside it
    result.answers_file = answers
    stated = section.get("sha256")
    try:
        found, normalised = answers_digests(answers)
    except (OSError, UnreadableCertificate) as exc:
        reason = exc.strerror or exc if isinstance(exc, OSError) else exc
        result.answers_problem = f"answers file {answers} cannot be read: {reason}"
        return
    if found == stated:
        return
    if normalised == stated:
        result.notes.append(f"answers file {answers}: matches the certificate's sha256 once a byte order mark "
                            f"is removed and CRLF read as LF (converted by a Windows tool?)")
        return
    result.answers_problem = (f"answers file {answers} changed: its sha256 is {found}, the certificate "
                              f"states {stated}")
