"""Pre-registered test protocols: acceptance criteria fixed, justified and sealed before a run.

A protocol is a YAML file a team writes before testing::

    title: Robustness of model X on chest radiographs
    version: "1.0"
    intended_use: ...
    scope: ...
    test_data: ...
    criteria:
      - id: C1
        spec: "test_mild_image_noise*"     # optional fnmatch pattern: node id, file name or test name
        metric: closed_accuracy
        max_drop: 0.10                     # and/or min
        justification: why this drop is clinically acceptable
    sign_off:
      tester: {name: ..., date: ...}
      clinical_reviewer: {name: ..., date: ...}
      approver: {name: ..., date: ...}

The harness reads the file's bytes once, at session start, hashes them (sha256)
and parses those same bytes, so the hash names exactly the criteria applied.
A check whose threshold is not the one its criterion states is a *deviation*.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import yaml

from ..errors import ProtocolError
from .yaml_load import DuplicateKeyError, load_yaml_lines

__all__ = ["Protocol", "Criterion", "ValidityCriteria", "DEFAULT_MAX_ERROR_RATE", "load_protocol",
           "parse_protocol", "SIGN_OFF_ROLES", "deviation", "suite_spec_ids"]

SIGN_OFF_ROLES = ("tester", "clinical_reviewer", "approver")
_THRESHOLDS = ("max_drop", "min")
_KEYS = ("title", "version", "intended_use", "scope", "test_data", "criteria", "validity", "sign_off")
_REQUIRED_TEXT = ("title", "version", "intended_use", "scope", "test_data")
_CRITERION_KEYS = ("id", "spec", "metric", "max_drop", "min", "justification")


@dataclasses.dataclass(frozen=True)
class Criterion:
    """One pre-registered acceptance criterion."""

    id: str
    spec: Optional[str]
    metric: str
    max_drop: Optional[float]
    min: Optional[float]
    justification: str

    @property
    def threshold(self) -> dict[str, float]:
        """The thresholds this criterion states (``max_drop`` and/or ``min``)."""
        return {k: v for k, v in (("max_drop", self.max_drop), ("min", self.min)) if v is not None}

    def matches(self, spec_id: str, metric: str) -> bool:
        """Whether this criterion governs ``metric`` in the spec with pytest node id ``spec_id``."""
        if metric != self.metric:
            return False
        if self.spec is None:
            return True
        pieces = spec_id.split("::")
        parts = [spec_id, *pieces, pieces[0].rsplit("/", 1)[-1], *(p.split("[", 1)[0] for p in pieces)]
        return any(fnmatch.fnmatchcase(part, self.spec) for part in parts)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


DEFAULT_MAX_ERROR_RATE = 0.05
"""Without a protocol's own: a run whose model failed on more than 5 % of its answers is not valid."""


@dataclasses.dataclass(frozen=True)
class ValidityCriteria:
    """What a model must achieve on clean inputs before its robustness means anything.

    Attributes:
        floors: Per metric, the smallest clean value (``min``) and its clinical justification.
        max_error_rate: The largest share of answers the model may fail to give.
        error_rate_justification: Why that rate.
    """

    floors: tuple[dict[str, Any], ...] = ()
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    error_rate_justification: str = "the harness's default: at most 5 % of answers may fail"

    def to_json(self) -> dict[str, Any]:
        return {"floors": [dict(f) for f in self.floors], "max_error_rate": self.max_error_rate,
                "error_rate_justification": self.error_rate_justification}


@dataclasses.dataclass(frozen=True)
class Protocol:
    """A parsed protocol with the sha256 of the bytes it was parsed from."""

    path: str
    sha256: str
    title: str
    version: str
    intended_use: str
    scope: str
    test_data: str
    criteria: tuple[Criterion, ...]
    sign_off: tuple[dict[str, str], ...]
    validity: "ValidityCriteria" = dataclasses.field(default_factory=lambda: ValidityCriteria())
    """Clean-performance floors and the largest error rate a valid run may have."""

    def criterion_for(self, spec_id: str, metric: str) -> Optional[Criterion]:
        """The governing criterion: the first whose spec pattern matches, else the first without one."""
        matching = [c for c in self.criteria if c.matches(spec_id, metric)]
        specific = [c for c in matching if c.spec is not None]
        return (specific or matching or [None])[0]

    def to_json(self) -> dict[str, Any]:
        """The certificate's view (the local path is left out: it cannot change a result)."""
        return {"placeholder": False, "sha256": self.sha256, "title": self.title, "version": self.version,
                "intended_use": self.intended_use, "scope": self.scope, "test_data": self.test_data,
                "criteria": [c.to_json() for c in self.criteria], "validity": self.validity.to_json(),
                "sign_off": [dict(s) for s in self.sign_off]}


def load_protocol(path: str, metrics: Optional[Mapping[str, Any]] = None,
                  spec_ids: Optional[Sequence[str]] = None) -> Protocol:
    """Read, hash and validate a protocol file.

    Args:
        path: The protocol file.
        metrics: The registered metrics: every metric a criterion or floor names must be one.
        spec_ids: The specs the suites define (pytest node ids): every criterion's ``spec`` pattern must
            match one of them.

    Raises:
        ProtocolError: The file is missing, not YAML, or a field is missing, malformed or names nothing
            registered or defined, with the file and line.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ProtocolError(f"protocol {path}: cannot read it ({exc.strerror or exc})") from None
    return parse_protocol(raw, path, metrics, spec_ids)


def parse_protocol(raw: bytes, where: str = "<protocol>", metrics: Optional[Mapping[str, Any]] = None,
                   spec_ids: Optional[Sequence[str]] = None) -> Protocol:
    """Validate protocol bytes; the digest is that of exactly these bytes (see :func:`load_protocol`)."""
    digest = hashlib.sha256(raw).hexdigest()
    try:
        data, lines = load_yaml_lines(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProtocolError(f"protocol {where}: not UTF-8 text") from None
    except DuplicateKeyError as exc:
        raise ProtocolError(f"protocol {where}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ProtocolError(f"protocol {where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"protocol {where}: a protocol is a mapping with keys {', '.join(_KEYS)}")

    def at(*path: Any) -> str:
        """``protocol FILE:LINE`` of the value at ``path`` (or of its closest enclosing value)."""
        while path and path not in lines:
            path = path[:-1]
        return f"protocol {where}:{lines[path]}" if path in lines else f"protocol {where}"

    unknown = sorted(set(map(str, data)) - set(_KEYS))
    if unknown:
        raise ProtocolError(f"{at(unknown[0])}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_KEYS)}")
    text = {}
    for key in _REQUIRED_TEXT:
        value = data.get(key)
        if key == "version" and isinstance(value, (int, float)) and not isinstance(value, bool):
            # YAML reads version: 1.10 as the number 1.1; the version sealed must be the text written
            written = re.search(r"^version:[ \t]*([^\s#]+)", raw.decode("utf-8"), re.MULTILINE)
            shown = written.group(1) if written else str(value)
            raise ProtocolError(f"{at(key)}: 'version' must be quoted text, e.g. version: \"{shown}\" "
                                f"(YAML reads an unquoted {shown} as the number {value!r})")
        if not isinstance(value, str) or not value.strip():
            raise ProtocolError(f"{at(key)}: '{key}' is required and must be non-empty text")
        text[key] = value.strip()
    criteria = _criteria(data.get("criteria"), at)
    validity = _validity(data.get("validity"), at)
    if metrics is not None:
        _check_metrics(criteria, validity, metrics, at)
    if spec_ids is not None:
        _check_patterns(criteria, spec_ids, at)
    return Protocol(where, digest, text["title"], text["version"], text["intended_use"], text["scope"],
                    text["test_data"], criteria, _sign_off(data.get("sign_off"), at), validity)


def _check_metrics(criteria: Sequence[Criterion], validity: ValidityCriteria, metrics: Mapping[str, Any],
                   at: Callable[..., str]) -> None:
    known = f"registered metrics: {', '.join(sorted(metrics))}"
    for i, c in enumerate(criteria):
        if c.metric not in metrics:
            raise ProtocolError(f"{at('criteria', i, 'metric')}: criteria[{i}] ({c.id}): unknown metric "
                                f"{c.metric!r}; {known}")
    for floor in validity.floors:
        if floor["metric"] not in metrics:
            raise ProtocolError(f"{at('validity', 'floors', floor['metric'])}: validity.floors: unknown metric "
                                f"{floor['metric']!r}; {known}")


def _check_patterns(criteria: Sequence[Criterion], spec_ids: Sequence[str], at: Callable[..., str]) -> None:
    for i, c in enumerate(criteria):
        if c.spec is not None and not any(c.matches(spec_id, c.metric) for spec_id in spec_ids):
            shown = ", ".join(sorted({_spec_name(spec_id) for spec_id in spec_ids})[:8]) or "none"
            raise ProtocolError(f"{at('criteria', i, 'spec')}: criteria[{i}] ({c.id}): spec {c.spec!r} matches "
                                f"none of the {len(spec_ids)} specs the suites define (e.g. {shown}); "
                                f"correct the pattern or leave 'spec' out to cover every spec")


def _unit_interval(value: Any, at: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ProtocolError(f"{at} must be a number in [0, 1], got {value!r}")
    return float(value)


def _justification(value: Any, at: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(f"{at}: 'justification' is required and must say why (clinical reasoning)")
    return value.strip()


def _validity(value: Any, where: Callable[..., str]) -> ValidityCriteria:
    """The optional ``validity`` section: ``floors: {metric: {min, justification}}`` and
    ``max_error_rate: {value, justification}``."""
    if value is None:
        return ValidityCriteria()
    at = f"{where('validity')}: validity"
    if not isinstance(value, dict) or set(map(str, value)) - {"floors", "max_error_rate"}:
        raise ProtocolError(f"{at} must be a mapping with 'floors' and/or 'max_error_rate'")
    floors = []
    floors_given = value.get("floors") or {}
    if not isinstance(floors_given, dict):
        raise ProtocolError(f"{at}.floors must map metric names to {{min, justification}}")
    for metric, floor in floors_given.items():
        at = f"{where('validity', 'floors', str(metric))}: validity"
        if not isinstance(floor, dict) or set(map(str, floor)) != {"min", "justification"}:
            raise ProtocolError(f"{at}.floors.{metric} must be a mapping with min and justification")
        floors.append({"metric": str(metric), "min": _unit_interval(floor["min"], f"{at}.floors.{metric}.min"),
                       "justification": _justification(floor["justification"], f"{at}.floors.{metric}")})
    rate = value.get("max_error_rate")
    if rate is None:
        return ValidityCriteria(tuple(floors))
    at = f"{where('validity', 'max_error_rate')}: validity"
    if not isinstance(rate, dict) or set(map(str, rate)) != {"value", "justification"}:
        raise ProtocolError(f"{at}.max_error_rate must be a mapping with value and justification")
    return ValidityCriteria(tuple(floors), _unit_interval(rate["value"], f"{at}.max_error_rate.value"),
                            _justification(rate["justification"], f"{at}.max_error_rate"))


def _criteria(value: Any, where: Callable[..., str]) -> tuple[Criterion, ...]:
    if not isinstance(value, list) or not value:
        raise ProtocolError(f"{where('criteria')}: 'criteria' must be a non-empty list of criteria "
                            f"(id, metric, max_drop and/or min, justification)")
    out, seen = [], set()
    for i, item in enumerate(value):
        at = f"{where('criteria', i)}: criteria[{i}]"

        def at_key(key: str, i: int = i) -> str:
            return f"{where('criteria', i, key)}: criteria[{i}]"

        if not isinstance(item, dict):
            raise ProtocolError(f"{at} must be a mapping with {', '.join(_CRITERION_KEYS)}")
        unknown = sorted(set(map(str, item)) - set(_CRITERION_KEYS))
        if unknown:
            raise ProtocolError(f"{at_key(unknown[0])}: unknown key(s) {', '.join(unknown)}; "
                                f"allowed: {', '.join(_CRITERION_KEYS)}")
        for key in ("id", "metric", "justification"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise ProtocolError(f"{at_key(key)}.{key} is required and must be non-empty text"
                                    + (" (the clinical reason this threshold is acceptable)"
                                       if key == "justification" else ""))
        if item["id"].strip() in seen:  # compared as they are kept: stripped
            raise ProtocolError(f"{at_key('id')}.id {item['id'].strip()!r} is used twice; criterion ids must be unique")
        seen.add(item["id"].strip())
        spec = item.get("spec")
        if spec is not None and (not isinstance(spec, str) or not spec.strip()):
            raise ProtocolError(f"{at_key('spec')}.spec must be a pattern over spec ids (e.g. 'test_mild_*') or left out")
        thresholds = {}
        for key in _THRESHOLDS:
            v = item.get(key)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise ProtocolError(f"{at_key(key)}.{key} must be a number in [0, 1], got {v!r}")
            thresholds[key] = float(v)
        if not thresholds:
            raise ProtocolError(f"{at} ({item['id']}) needs a threshold: max_drop and/or min")
        out.append(Criterion(item["id"].strip(), spec.strip() if spec else None, item["metric"].strip(),
                             thresholds.get("max_drop"), thresholds.get("min"), item["justification"].strip()))
    return tuple(out)


def _sign_off(value: Any, where: Callable[..., str]) -> tuple[dict[str, str], ...]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ProtocolError(f"{where('sign_off')}: 'sign_off' must map roles ({', '.join(SIGN_OFF_ROLES)}) "
                            f"to {{name, date}}")
    unknown = sorted(set(map(str, value)) - set(SIGN_OFF_ROLES))
    if unknown:
        raise ProtocolError(f"{where('sign_off', unknown[0])}: sign_off: unknown role(s) {', '.join(unknown)}; "
                            f"roles: {', '.join(SIGN_OFF_ROLES)}")
    out = []
    for role in SIGN_OFF_ROLES:
        entry = value.get(role) or {}
        if not isinstance(entry, dict) or set(map(str, entry)) - {"name", "date"}:
            raise ProtocolError(f"{where('sign_off', role)}: sign_off.{role} must be a mapping with name and date")
        fields = {}
        for key in ("name", "date"):
            v = entry.get(key)
            fields[key] = "" if v is None else str(v)  # YAML reads 2026-01-31 as a date
        out.append({"role": role.replace("_", " "), **fields})
    return tuple(out)


def deviation(protocol: Protocol, spec_id: str, metric: str, threshold: dict[str, float]) -> Optional[str]:
    """Why a check's ``threshold`` departs from the sealed protocol, or None when it does not."""
    criterion = protocol.criterion_for(spec_id, metric)
    if criterion is None:
        return f"no criterion of the protocol covers {metric} in {spec_id}"
    stated = criterion.threshold
    if set(stated) != set(threshold) or any(abs(stated[k] - float(threshold[k])) > 1e-9 for k in stated):
        shown = ", ".join(f"{k} {v:g}" for k, v in sorted(stated.items()))
        used = ", ".join(f"{k} {float(v):g}" for k, v in sorted(threshold.items()))
        return f"criterion {criterion.id} states {shown} for {metric}; the run used {used}"
    return None


def _spec_name(spec_id: str) -> str:
    """A spec's short name: its test function, or its YAML file."""
    file, *rest = spec_id.split("::")
    return rest[-1].split("[")[0] if rest and file.endswith(".py") else file.rsplit("/", 1)[-1]


def suite_spec_ids(directory: Path, noises: Mapping[str, Any], metrics: Mapping[str, Any]) -> list[str]:
    """The specs a suites folder defines, as pytest node ids relative to its parent, without running pytest.

    Python specs are the ``test*`` functions (and ``Test*`` classes' methods) of its ``test_*.py`` and
    ``*_test.py`` files; a YAML spec gives one id per composition (just its file when it does not load).
    """
    import ast

    from ..errors import SpecError
    from .yaml_spec import item_name, load_yaml_spec

    ids: list[str] = []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory.parent).as_posix()
        if path.suffix == ".py" and (path.name.startswith("test_") or path.name.endswith("_test.py")):
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, OSError):
                continue
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                    ids.append(f"{rel}::{node.name}")
                elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                    ids += [f"{rel}::{node.name}::{f.name}" for f in node.body
                            if isinstance(f, ast.FunctionDef) and f.name.startswith("test")]
        elif path.name.endswith(".robust.yaml"):
            try:
                ids += [f"{rel}::{item_name(c)}" for c in load_yaml_spec(path, noises, metrics).compositions]
            except SpecError:
                ids.append(rel)
    return ids
