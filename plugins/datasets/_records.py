"""What every release reader produces: records, image sources, and the problems it found.

A reader validates annotations record by record. A problem with one record
(a missing field, an unknown answer type, a duplicate id) skips that record and
is reported; a problem with the release itself (no annotation file, a file that
is not JSON, a top-level value of the wrong shape) raises :class:`medrobust.DatasetError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from medrobust import DatasetError

__all__ = ["shown", "Problem", "ImageSource", "Record", "RecordReader", "CLOSED_ANSWERS",
           "infer_answer_type", "relative", "require_file",
           "load_json_list"]

#: answers that make a question closed when a release does not say
CLOSED_ANSWERS = frozenset({"yes", "no"})


@dataclasses.dataclass(frozen=True)
class Problem:
    """Why one record was skipped.

    Attributes:
        file: The file, relative to the dataset root where possible.
        record: Which record: ``"record 12 (qid 345)"``, ``"line 7"``, ``"row 3"``.
        field: The field at fault.
        message: What is wrong and what is expected.
    """

    file: str
    record: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.record}: field {self.field!r}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ImageSource:
    """Where a record's image comes from: a file, or bytes embedded in the annotation file.

    Attributes:
        key: Identity of the image content: ``"file:<resolved path>"`` (``..`` and symlinks
            resolved, so two spellings of one file share it) or ``"sha256:<hex>"``. Records
            sharing a key share one decoded image; reference and test are kept image-disjoint by it.
        label: How messages name it (a path relative to the root, or ``file row N``).
        path: The image file, when the image is a file.
        data: The encoded bytes, when the release embeds them.
    """

    key: str
    label: str
    path: Optional[Path] = None
    data: Optional[bytes] = dataclasses.field(default=None, repr=False, compare=False)

    @classmethod
    def file(cls, path: Path, label: str) -> "ImageSource":
        return cls(f"file:{Path(path).resolve()}", label, path=path)

    @classmethod
    def embedded(cls, data: bytes, label: str) -> "ImageSource":
        return cls("sha256:" + hashlib.sha256(data).hexdigest(), label, data=data)


@dataclasses.dataclass(frozen=True)
class Record:
    """One validated annotation whose image is not decoded yet."""

    id: str
    split: str
    image: ImageSource
    question: str
    answer: str
    answer_type: str
    metadata: dict[str, Any]
    file: str
    where: str
    image_field: str = "image"



def shown(value: object, limit: int) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters with "..." when longer."""
    text = repr(value)
    return text if len(text) <= limit else text[:max(0, limit - 3)] + "..."

def infer_answer_type(answer: str) -> str:
    """``closed`` for yes/no answers, ``open`` otherwise (for releases that do not say)."""
    return "closed" if answer in CLOSED_ANSWERS else "open"


class RecordReader:
    """Field access for one annotation file, collecting a :class:`Problem` per bad record.

    Args:
        file: Name of the file in messages.
        problems: List the problems are appended to.
    """

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        self._seen: dict[str, str] = {}

    def problem(self, where: str, field: str, message: str) -> None:
        """Record that the record at ``where`` is skipped because of ``field``."""
        self.problems.append(Problem(self.file, where, field, message))

    def text(self, raw: Any, where: str, field: str, *, numbers: bool = False,
             required: bool = True) -> Optional[str]:
        """A non-empty string field, stripped; None (and a problem if required) otherwise.

        Args:
            raw: The record (must be a dict).
            where: The record's label for messages.
            field: The key.
            numbers: Accept a number and use its text (VQA-RAD stores some answers as numbers).
            required: Whether a missing field is a problem.
        """
        if field not in raw or raw[field] is None:
            if required:
                self.problem(where, field, "is missing; expected a non-empty string")
            return None
        value = raw[field]
        if numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            if required:
                kind = "a string or a number" if numbers else "a string"
                self.problem(where, field, f"is a JSON {json_kind(value)} ({shown(value, 60)}); expected {kind}")
            return None
        value = value.strip()
        if not value and required:
            self.problem(where, field, "is empty; expected a non-empty string")
            return None
        return value or None

    def identifier(self, raw: Any, where: str, field: str) -> Optional[str]:
        """A record id given as a number or a non-empty string, as text; None with a problem otherwise."""
        value = raw.get(field)
        if isinstance(value, (int, str)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
        self.problem(where, field, f"is {shown(value, 40)}; expected the record's id (a number or string)")
        return None

    def answer_type(self, raw: Any, where: str, field: str, answer: str) -> Optional[str]:
        """``closed`` / ``open`` from a field holding CLOSED/OPEN (any case); inferred if absent."""
        if field not in raw or raw[field] is None:
            return infer_answer_type(answer)
        value = raw[field]
        word = value.strip().lower() if isinstance(value, str) else None
        if word not in ("closed", "open"):
            self.problem(where, field, f"is {shown(value, 60)}; expected CLOSED or OPEN")
            return None
        return word

    def each(self, items: list[Any],
             id_field: Optional[str] = None) -> Iterator[tuple[dict[str, Any], Optional[str], str]]:
        """``(record, id, label)`` for each object of an annotation array, labelled ``record N (qid X)``.

        Items that are not objects, or (with ``id_field``) lack a usable id, become problems.
        """
        for index, raw in enumerate(items):
            where = f"record {index}"
            if not self.record(raw, where):
                continue
            if id_field is None:
                yield raw, None, where
                continue
            sample_id = self.identifier(raw, where, id_field)
            if sample_id is not None:
                yield raw, sample_id, f"{where} ({id_field} {sample_id})"

    def question(self, raw: Any, where: str, image_field: str, sample_id: Optional[str] = None,
                 id_field: str = "id") -> Optional[tuple[str, str, str, str]]:
        """``(image, question, answer, answer_type)`` of a record, answer lower-cased; None if skipped.

        Reads the image name, question, answer (numbers accepted) and answer type
        (``answer_type`` field, or inferred), then checks ``sample_id`` is new.
        """
        image = self.text(raw, where, image_field)
        question = self.text(raw, where, "question")
        answer = self.text(raw, where, "answer", numbers=True)
        if image is None or question is None or answer is None:
            return None
        answer = answer.lower()
        answer_type = self.answer_type(raw, where, "answer_type", answer)
        if answer_type is None or (sample_id is not None and not self.unique(sample_id, where, id_field)):
            return None
        return image, question, answer, answer_type

    def image_inside(self, path: Path, root: Path, where: str, field: str, name: str) -> Optional[Path]:
        """``path`` (built from the record's image ``name``) normalised, if the file it names lies inside
        the dataset folder ``root``; None with a problem otherwise.

        An annotation file must not reach files elsewhere on the machine: an absolute name, a name
        whose ``..`` climbs out of ``root``, and a name that resolves (through symlinks) to a file
        outside ``root`` are refused. Messages name the record's own text, never the machine's paths.
        """
        if "\0" in name:
            self.problem(where, field, f"is {shown(name, 240)}, which holds a NUL character; expected an image name")
            return None
        if os.path.isabs(name):
            self.problem(where, field, f"is {shown(name, 240)}, an absolute path; expected a path relative to "
                                       "the release folder, naming an image inside it")
            return None
        normal = Path(os.path.normpath(path))
        if not _within(Path(os.path.abspath(normal)), Path(os.path.abspath(root))):
            self.problem(where, field, f"is {shown(name, 240)}, which leads outside the release folder; "
                                       "expected an image name inside the release")
            return None
        try:
            inside = _within(normal.resolve(), Path(root).resolve())
        except (OSError, RuntimeError):  # a symlink loop
            inside = False
        if not inside:
            self.problem(where, field, f"is {shown(name, 240)}, which a symbolic link leads outside the release "
                                       "folder; expected an image inside the release (copy it in rather than "
                                       "linking to it)")
            return None
        return normal

    def descriptive(self, raw: Any, where: str, fields: dict[str, str]) -> dict[str, str]:
        """Optional descriptive fields renamed to metadata keys (``modality``, ``organ`` lower-cased)."""
        out = {}
        for field, key in fields.items():
            value = self.text(raw, where, field, required=False)
            if value:
                out[key] = value.lower() if key in ("modality", "organ") else value
        return out

    def unique(self, sample_id: str, where: str, field: str) -> bool:
        """Whether ``sample_id`` is new; a repeat is a problem naming the first occurrence."""
        first = self._seen.get(sample_id)
        if first is not None:
            self.problem(where, field, f"repeats id {sample_id!r} of {first}; expected ids to be unique")
            return False
        self._seen[sample_id] = where
        return True

    def record(self, raw: Any, where: str) -> bool:
        """Whether ``raw`` is a JSON object; a problem otherwise."""
        if isinstance(raw, dict):
            return True
        self.problem(where, "(record)", f"is a JSON {json_kind(raw)}; expected an object with named fields")
        return False


def _within(path: Path, folder: Path) -> bool:
    """Whether the absolute ``path`` is ``folder`` or lies under it (both absolute)."""
    return os.path.commonpath([path, folder]) == str(folder)


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when it lies inside it, else as given."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def require_file(path: Path, what: str, hint: Callable[[], str] = lambda: "") -> Path:
    """``path`` if it is a file; :class:`DatasetError` naming it and what it is otherwise."""
    if not path.is_file():
        extra = hint()
        raise DatasetError(f"{what} not found: {path} does not exist{('; ' + extra) if extra else ''}")
    return path


def json_kind(value: Any) -> str:
    """The JSON name of a parsed value's type (object, array, string, number, boolean, null)."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number" if isinstance(value, (int, float)) else type(value).__name__)


def load_json_list(path: Path, root: Path) -> list[Any]:
    """The top-level array of a JSON annotation file.

    Raises:
        DatasetError: Unreadable file, invalid JSON (with line and column), or not an array.
    """
    name = relative(path, root)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                           f"expected the release's annotation file unchanged") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start}); expected a JSON file") from None
    except OSError as exc:
        raise DatasetError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(data, list):
        raise DatasetError(f"{name}: the top level is a JSON {json_kind(data)}; expected an array of "
                           f"question records")
    return data
