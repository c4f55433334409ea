"""Robustness certificates: a typed record, canonical JSON with a digest, an HTML view."""

from __future__ import annotations

import datetime as _dt
import json
import time
from pathlib import Path
from typing import Any

from .._canonical import canonical_json
from ..run.facts import RunFacts
from ..run.judgement import Judgement
from ..run.options import RunOptions
from ..run.answers import answers_jsonl
from .record import ANSWERS_SUFFIX, Certificate, answers_section, build_certificate, compute_digest
from .render import render_html

__all__ = ["Certificate", "build_certificate", "compute_digest", "render_html", "write_certificate"]


def write_certificate(options: RunOptions, judgement: Judgement, facts: RunFacts, base: str) -> tuple[Path, Path]:
    """Write ``base.answers.jsonl``, then ``base.json`` and ``base.html`` for a finished run; returns the
    paths of the certificate's twins.

    The answers file comes first: the certificate names it with its sha256 (section ``answers``).
    """
    timing = {"finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "process_seconds": round(time.process_time(), 2), "stages": facts.stages}
    stem = Path(base)
    if stem.suffix in (".json", ".html"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path, html_path = stem.with_suffix(".json"), stem.with_suffix(".html")
    answers_path = json_path.with_name(json_path.stem + ANSWERS_SUFFIX)
    rows = answers_jsonl(facts.answer_rows)
    answers_path.write_bytes(rows.encode("utf-8"))
    answers = answers_section(rows, facts.answer_rows)
    data = build_certificate(options, judgement, facts, timing, answers).to_json()
    text = canonical_json(data)
    json_path.write_text(text + "\n", encoding="utf-8")
    # rendered from the JSON as written, so that `medrobust verify` can re-render the page from its data
    html_path.write_text(render_html(json.loads(text)), encoding="utf-8")
    return json_path, html_path
