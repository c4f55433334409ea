"""The certificate in real headless Chromium: loads clean, screenshots, prints to A4 PDF, runs no injected script."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from chromium import Browser, find_chromium
from fixture_certificate import make_certificate

from medrobust._canonical import canonical_json
from medrobust.certificate.embed import embed_json
from medrobust.certificate.render import render_html

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

PWN = "document.title='PWNED';window.pwned=1"
HOSTILE = {
    "answer": f"<script>{PWN}</script>{{{{ 7*7 }}}}",
    "question": f"</table></td></tr><img src=x onerror=\"{PWN}\">",
    "sample_id": f"</script><script>{PWN}</script>",
    "message": f"<svg onload=\"{PWN}\"></svg><iframe src=\"javascript:{PWN}\"></iframe>",
    "noise": "<b>bold</b>&amp;",
    "image": f"javascript:{PWN}",
}
A4_PORTRAIT = re.compile(rb"/MediaBox \[0 0 59[45](?:\.\d+)? 84[12](?:\.\d+)?\]")
A4_LANDSCAPE = re.compile(rb"/MediaBox \[0 0 84[12](?:\.\d+)? 59[45](?:\.\d+)?\]")


@pytest.fixture(scope="module")
def browser():
    with Browser(CHROMIUM) as b:
        yield b


def _write(tmp_path: Path, html: str, name: str = "certificate.html") -> Path:
    path = tmp_path / name
    path.write_text(html, encoding="utf-8")
    return path


def test_report_loads_without_errors_screenshots_and_prints_to_a4(browser, tmp_path):
    data = make_certificate()
    browser.open(_write(tmp_path, render_html(data)))
    assert browser.problems() == []
    assert browser.evaluate("document.title") == "Robustness Test Report: reference (FAIL)"
    # laid out within the viewport: nothing forces horizontal scrolling
    assert browser.evaluate("document.documentElement.scrollWidth") <= 1100
    # charts drew: every SVG has a size, thumbnails decoded
    sizes = browser.evaluate("[...document.querySelectorAll('svg[role=img]')].map(s => s.getBoundingClientRect().width)")
    assert len(sizes) == len(data["results"]["curves"]) + 1 and min(sizes) > 100
    widths = browser.evaluate("[...document.querySelectorAll('img.thumb')].map(i => i.complete && i.naturalWidth)")
    assert widths and all(w == 64 for w in widths)
    # the browser parses the embedded JSON back to the certificate
    parsed = browser.evaluate("JSON.parse(document.getElementById('certificate-data').textContent)")
    assert parsed == json.loads(canonical_json(data))  # equal values (JavaScript has no 1.0, only 1)

    png = browser.screenshot()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 50_000
    (tmp_path / "certificate.png").write_bytes(png)
    pdf = browser.pdf()
    (tmp_path / "certificate.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF-")
    portrait, landscape = len(A4_PORTRAIT.findall(pdf)), len(A4_LANDSCAPE.findall(pdf))
    assert portrait >= 8, "the major sections start on their own A4 pages"
    assert landscape >= 1, "the test matrix prints on A4 landscape pages"
    assert browser.problems() == []


def test_hostile_text_runs_no_script_even_without_the_content_security_policy(browser, tmp_path):
    data = make_certificate(hostile=HOSTILE, with_strata=False)
    data["model"]["name"] = HOSTILE["answer"]
    html = render_html(data)
    # take the CSP away so that only escaping stands between the data and the script engine
    unguarded = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    assert unguarded != html
    browser.open(_write(tmp_path, unguarded))
    assert browser.evaluate("document.title").startswith("Robustness Test Report: <script>")
    assert browser.evaluate("window.pwned === undefined")
    assert browser.problems() == []  # no dialog, no exception, no blocked load
    assert browser.evaluate("document.scripts.length") == 1
    assert browser.evaluate("document.querySelectorAll('iframe, svg[onload], [onerror], b').length") == 0
    assert browser.evaluate("[...document.images].every(i => i.src.startsWith('data:image/png;base64,'))")
    text = browser.evaluate("document.body.innerText")
    for value in (HOSTILE["answer"], HOSTILE["question"], HOSTILE["sample_id"], HOSTILE["noise"]):
        assert value in text
    assert "image withheld: not a PNG data URI" in text
    parsed = browser.evaluate("document.getElementById('certificate-data').textContent")
    assert parsed == embed_json(data) and json.loads(parsed)["model"]["name"] == HOSTILE["answer"]


def test_hostile_page_with_its_policy_logs_nothing(browser, tmp_path):
    data = make_certificate(hostile=HOSTILE, with_strata=False)
    browser.open(_write(tmp_path, render_html(data)))
    assert browser.problems() == []
    assert browser.evaluate("window.pwned === undefined")


def test_a_real_run_prints(browser, toy, tmp_path):
    toy.makepyfile(test_spec='''
def test_mild(bench):
    bench.expect("gaussian_noise@1", metric="closed_accuracy", max_drop=0.5)
''')
    toy.runpytest("--model", "toy", "--dataset", "toy", "-p", "no:cacheprovider")
    browser.open(toy.path / "reports" / "certificate.html")
    assert browser.problems() == []
    assert browser.evaluate("document.querySelectorAll('h1').length") == 1
    assert browser.pdf().startswith(b"%PDF-")
