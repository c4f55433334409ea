"""Robustness certificates: a typed record, canonical JSON with a digest, an HTML view."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import time
from pathlib import Path
from typing import Any

from .._canonical import canonical_json
from ..run.facts import RunFacts
from ..run.judgement import Judgement
from ..run.options import RunOptions
from ..run.answers import answers_jsonl
from ..run.outputs import certificate_paths
from .atomic import write_together
from .record import Certificate, answers_section, build_certificate, compute_digest
from .render import render_html

__all__ = ["Certificate", "build_certificate", "compute_digest", "render_html", "write_certificate"]

LOG = logging.getLogger("medrobust.certificate")


def write_certificate(options: RunOptions, judgement: Judgement, facts: RunFacts, base: str) -> tuple[Path, Path]:
    """Write ``base.answers.jsonl``, ``base.json`` and ``base.html`` for a finished run, all three or none;
    returns the paths of the certificate's twins.

    Everything is made in memory first (the certificate names the answers file with its sha256,
    section ``answers``; the page is rendered from the JSON as written), then the three files are
    written to temporary files beside them and renamed over the old ones only when all are written
    (:func:`.atomic.write_together`): a failed write leaves the previous certificate whole. The
    window that remains is that of the renames themselves (see :mod:`.atomic`).

    Raises:
        OSError: A file that could not be written; the previous certificate's files are unchanged.
    """
    timing = {"finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "process_seconds": round(time.process_time(), 2), "stages": facts.stages}
    json_path, html_path, answers_path = certificate_paths(base)
    rows = answers_jsonl(facts.answer_rows)
    answers = answers_section(rows, facts.answer_rows)
    data = build_certificate(options, judgement, facts, timing, answers).to_json()
    text = canonical_json(data)
    # rendered from the JSON as written, so that `medrobust verify` can re-render the page from its data
    page = render_html(json.loads(text))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    write_together({answers_path: rows.encode("utf-8"), json_path: (text + "\n").encode("utf-8"),
                    html_path: page.encode("utf-8")})
    LOG.info("certificate written: %s, %s and %s (%s, digest %s)", json_path, html_path, answers_path,
             judgement.verdict, str(data.get("digest", ""))[:12])
    return json_path, html_path
