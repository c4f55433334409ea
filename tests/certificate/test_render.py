"""The certificate's HTML view: contents, escaping of untrusted text, embedded JSON, charts, size."""

from __future__ import annotations

import base64
import copy
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from fixture_certificate import make_certificate, thumbnail

from medrobust.certificate import charts
from medrobust._canonical import canonical_json
from medrobust.certificate.record import compute_digest
from medrobust.certificate.embed import embed_json, embedded_certificate, png_data_uri
from medrobust.certificate.render import DISPLAY_LIMIT, render_html

V2_ONLY = ("verdict_rule", "scope_disclaimer", "protocol", "environment", "test_data", "results", "repeatability",
           "shortcuts", "limitations", "cases", "section_digests")


class Page(HTMLParser):
    """The parts of a page the tests look at: tags, attributes, headings, visible text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.starts: list[tuple[str, dict[str, Any]]] = []
        self.ends: list[str] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Any]]) -> None:
        self.starts.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, Any]]) -> None:
        self.starts.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.ends.append(tag)
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text).append(data)

    def tags(self, name: str) -> list[dict[str, Any]]:
        return [attrs for tag, attrs in self.starts if tag == name]

    @property
    def visible(self) -> str:
        return "".join(self.text)


@pytest.fixture(scope="module")
def cert() -> dict[str, Any]:
    return make_certificate()


@pytest.fixture(scope="module")
def html(cert: dict[str, Any]) -> str:
    return render_html(cert)


def test_every_section_of_the_report_is_there(cert, html):
    page = Page(html)
    headings = [t for t, _ in page.starts if t in ("h1", "h2")]
    assert headings.count("h1") == 1
    for title in ("Identification", "Test data", "Perturbation catalogue", "Results", "Repeatability",
                  "Failure analysis", "Shortcut baselines", "Limitations", "Sign-off", "Verifying this report"):
        assert f"{title}</h2>" in html, title
    text = page.visible
    assert "FAIL" in text and cert["digest"] in text and cert["protocol"]["sha256"] in text
    assert "not a conformity assessment" in text
    assert "1 threshold differs from the sealed protocol" in text  # deviation flagged on the cover
    assert text.count("⚠ differs from the protocol") == 1  # and on its row of the test matrix
    assert "A 10-point drop would change the triage" in text  # criteria with their justification
    assert cert["model"]["weights_sha256"]["model.safetensors"] in text
    assert cert["test_data"]["manifest_digest"] in text
    assert "Low-dose CT and fast MRI trade noise" in text  # a noise's rationale
    assert "medrobust replay reports/certificate.json --case case-1" in text
    assert "Without the image the model falls to the majority baseline" in text
    # every check is a row of the test matrix, with its conclusion and intervals
    n_checks = sum(len(s["checks"]) for s in cert["specs"])
    assert len([a for a in page.tags("table") if "matrix" in a.get("class", "")]) == len(cert["specs"])
    assert len(re.findall(r'<tr class="(?:pass|fail|inconclusive)"><td>(?!<a )', html)) == n_checks
    # sign-off lines are there and empty by default
    for role in ("Tester", "Clinical reviewer", "Approver"):
        assert f'<th scope="row">{role}</th><td></td><td></td><td></td>' in html


def test_sign_off_is_filled_from_the_protocol():
    data = make_certificate(with_strata=False)
    data["protocol"]["sign_off"] = [{"role": "tester", "name": "A. <Tester>", "date": "2026-11-30"},
                                    {"role": "approver", "name": "C. Approver", "date": "2026-12-01"}]
    html = render_html(data)
    assert '<th scope="row">Tester</th><td>A. &lt;Tester&gt;</td><td>2026-11-30</td>' in html
    assert '<th scope="row">Clinical reviewer</th><td></td><td></td>' in html  # a role not given stays a blank line
    assert '<th scope="row">Approver</th><td>C. Approver</td><td>2026-12-01</td>' in html


def test_calibrated_and_uncalibrated_side_by_side_with_paired_statistics(cert, html):
    check = cert["specs"][0]["checks"][0]
    gain = check["uncalibrated"]["noisy_gain"]
    assert "Without imc: clean / noisy" in html and "Gain on noisy [95 % CI], p" in html
    assert f'{gain["diff"]:+.3f}<br><small>[{gain["low"]:+.3f}, {gain["high"]:+.3f}]</small><br><small>p = ' in html
    plain = render_html(make_certificate(calibrated=False, with_strata=False))
    assert "Without none" not in plain and "Gain on noisy" not in plain


def test_page_is_accessible_and_self_contained(html):
    page = Page(html)
    assert page.tags("html")[0]["lang"] == "en"
    levels = [int(t[1]) for t, _ in page.starts if t in ("h1", "h2", "h3", "h4", "h5", "h6")]
    assert levels[0] == 1 and all(b <= a + 1 for a, b in zip(levels, levels[1:])), "heading levels skip"
    assert all(a.get("scope") in ("col", "row") for a in page.tags("th"))
    assert len(page.tags("caption")) == len(page.tags("table"))
    imgs = page.tags("img")
    assert imgs and all(a.get("alt") for a in imgs)
    # nothing is fetched: the only URLs are data: images and in-page anchors
    for tag, attrs in page.starts:
        for name in ("src", "href", "xlink:href", "action"):
            if name in attrs:
                assert attrs[name].startswith(("data:image/png;base64,", "#")), (tag, attrs[name])
    assert [a for a in page.tags("script") if a.get("type") != "application/json"] == []
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_print_rules_are_in_the_page(html):
    style = html[html.index("<style>"):html.index("</style>")]
    for rule in ("@page { size: A4;", "@page wide { size: A4 landscape; }", "section.major { break-before: page; }",
                 "thead { display: table-header-group; }", "tr, figure, .case-head, pre, .verdict-box { break-inside: avoid; }",
                 'counter(page) " of " counter(pages)'):
        assert rule in style, rule
    assert html.count('<section id=') == html.count('class="major"') == 10


def test_embedded_json_round_trips_exactly(cert, html):
    back = embedded_certificate(html)
    assert canonical_json(back) == canonical_json(cert)
    assert compute_digest(back) == cert["digest"]


def test_charts_have_text_alternatives(cert, html):
    page = Page(html)
    svgs = [a for a in page.tags("svg") if a.get("role") == "img"]
    curves = cert["results"]["curves"]
    assert len(svgs) == len(curves) + 1  # one per curve and the heat map
    for attrs in svgs:
        ids = attrs["aria-labelledby"].split()
        assert all(f'id="{i}"' in html for i in ids)
    first = curves[0]
    assert f"{first['metric']} under {first['noise']} by severity" in html
    worst = max(v for row in cert["results"]["heatmap"]["cells"] for v in row if v is not None)
    assert f"{worst:+.2f}" in page.visible  # the heat map prints its values and lists them in a table
    assert "Drop of closed_accuracy by noise and severity (values of the heat map)" in html


def test_curve_geometry_maps_values_into_the_plot():
    points = [{"severity": 0, "value": 0.9, "low": 0.85, "high": 0.95, "uncalibrated": 0.9},
              {"severity": 3, "value": 0.5, "low": 0.4, "high": 0.6, "uncalibrated": None},
              {"severity": 5, "value": 0.1, "low": 0.0, "high": 0.2, "uncalibrated": 0.05}]
    chart = charts.curve_chart("acc", "blur", points)
    measured, raw = chart.series
    xs, ys = zip(*measured.points)
    assert xs == tuple(sorted(xs)) and xs[0] == chart.left and xs[-1] == chart.right
    assert ys[0] < ys[1] < ys[2] <= chart.bottom and min(ys) >= chart.top  # falling values go down
    assert measured.band and measured.band.startswith("M") and measured.band.endswith("Z")
    assert len(raw.points) == 2 and raw.dash  # the null point is skipped; dashed line, not colour alone
    assert "severity 3: 0.500 (95% CI 0.400 to 0.600)" in chart.description
    assert [t.label for t in chart.x_ticks] == ["clean", "1", "2", "3", "4", "5"]


def test_heat_map_is_darker_for_larger_drops_and_says_missing():
    hm = charts.heat_map("acc", ["a", "b"], [1, 2], [[0.0, 0.3], [-0.05, None]])
    fills = {c.label.split(":")[0]: c for c in hm.cells}

    def lightness(hex_colour: str) -> float:
        r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    assert lightness(fills["a at severity 2"].fill) < lightness(fills["a at severity 1"].fill)
    assert fills["b at severity 2"].text == "n/a"
    assert fills["b at severity 1"].text == "-0.05"
    dark = fills["a at severity 2"]
    assert dark.text_fill == "#ffffff"  # white text on the dark cell
    many = charts.heat_map("acc", ["a"], list(range(1, 22)), [[k / 20 for k in range(21)]])
    for cell in many.cells + many.legend:  # every printed value readable (WCAG AA, 4.5:1)
        assert charts.contrast_ratio(cell.fill, cell.text_fill) >= 4.5, cell
    assert "Largest: a at severity 2: drop +0.30" in hm.description


HOSTILE = [
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "{% raw %}x</table></td></tr>",
    "</script><script>alert('out')</script>",
    '"><img src=x onerror=alert(1)>',
    "]]><!-- -->\u2028\u2029&amp;",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_shown_as_text(text):
    fields = {"answer": text, "question": text, "sample_id": text, "noise": text, "message": text}
    data = make_certificate(hostile=fields, with_strata=False)
    data["model"]["name"] = text
    data["limitations"].append(text)
    data["digest"] = compute_digest(data)
    html = render_html(data)
    page = Page(html)
    if "<" in text:
        assert text not in html  # never raw, neither in the page nor in the embedded JSON
    assert len(page.tags("script")) == 1 and page.tags("script")[0]["type"] == "application/json"
    assert not [a for _, a in page.starts if any(k.startswith("on") for k in a)]
    assert page.ends.count("table") == len(page.tags("table"))  # no table closed by data
    assert text.replace("\u2028", "").replace("\u2029", "") in page.visible.replace("\u2028", "").replace("\u2029", "")
    assert canonical_json(embedded_certificate(html)) == canonical_json(data)
    assert "<" not in page.scripts[0] and len(page.scripts) == 1


CONTROLS = {"\x00": "\\x00", "\x1b": "\\x1b", "\x07": "\\x07", "\r": "\\r", "\x7f": "\\x7f",
            "\x85": "\\x85", "\x9b": "\\x9b", "\u202e": "\\u202e", "\u202d": "\\u202d", "\u2066": "\\u2066",
            "\u2069": "\\u2069", "\u200f": "\\u200f", "\u061c": "\\u061c"}


@pytest.mark.parametrize("char, shown", CONTROLS.items())
def test_control_and_bidi_characters_are_shown_escaped_and_kept_exact_in_the_json(char, shown):
    text = f"yes{char}[31m no"
    fields = {"answer": text, "question": text, "sample_id": text, "noise": text, "message": text}
    data = make_certificate(hostile=fields, with_strata=False)
    data["model"]["name"] = text
    html = render_html(data)
    assert char not in html  # nowhere raw: not in the text, the attributes, the SVG or the embedded JSON
    assert f"yes{shown}[31m no" in Page(html).visible
    assert f'alt="Clean image of sample yes{shown}[31m no"' in html
    assert canonical_json(embedded_certificate(html)) == canonical_json(data)
    assert embedded_certificate(html)["cases"][0]["examples"][0]["answer_noisy"] == text
    assert render_html(data) == html  # deterministic: verify re-renders the page from its data


def test_tabs_and_newlines_stay_as_they_are():
    html = render_html(make_certificate(hostile={"answer": "a\tb\nc"}, with_strata=False))
    assert "a\tb\nc" in html


def test_template_syntax_in_data_is_not_evaluated():
    html = render_html(make_certificate(hostile={"answer": "{{ 7*7 }}{{ cycler.__init__ }}"}, with_strata=False))
    assert "{{ 7*7 }}{{ cycler.__init__ }}" in Page(html).visible
    assert ">49<" not in html and "function" not in Page(html).visible


def test_a_100000_character_string_is_clipped_on_the_page_and_kept_whole_in_the_json():
    long = "A" * 99_990 + "<b>end</b>"
    data = make_certificate(hostile={"answer": long}, with_strata=False)
    html = render_html(data)
    visible = Page(html).visible
    assert "A" * DISPLAY_LIMIT in visible and "A" * (DISPLAY_LIMIT + 1) not in visible
    assert f"{len(long) - DISPLAY_LIMIT} more characters, in the embedded JSON" in visible
    assert "<b>end" not in html
    assert embedded_certificate(html)["cases"][0]["examples"][0]["answer_noisy"] == long
    copies = sum(len(c["examples"]) for c in data["cases"])
    grown = len(html) - len(render_html(make_certificate(with_strata=False)))
    assert grown < copies * (len(long) + DISPLAY_LIMIT + 200)  # once in the JSON, clipped on the page


def _replace_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replace_strings(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_strings(v, old, new) for v in value]
    return value


@pytest.mark.parametrize("errors", ["surrogateescape", "replace"])
def test_invalid_utf8_from_a_dataset_renders_and_round_trips(errors):
    text = b"lesion \xff\xfe in \xc3 lung \xed\xa0\x80".decode("utf-8", errors=errors)
    # planted after building: lone surrogates cannot be hashed as UTF-8 (see record.compute_digest)
    data = _replace_strings(make_certificate(hostile={"question": "@Q@", "sample_id": "@Q@"}, with_strata=False),
                            "@Q@", text)
    html = render_html(data)
    html.encode("utf-8")  # the page always encodes: lone surrogates became U+FFFD on the page
    assert "lesion \ufffd" in Page(html).visible
    back = embedded_certificate(html)
    assert back["cases"][0]["examples"][0]["question_noisy"] == text  # exactly, surrogates included
    assert canonical_json(back) == canonical_json(data)


PNG = thumbnail(1)
BAD_IMAGES = [
    "javascript:alert(1)",
    "data:text/html;base64," + base64.b64encode(b"<script>alert(1)</script>").decode(),
    "data:image/svg+xml;base64," + base64.b64encode(b"<svg onload='alert(1)'/>").decode(),
    "data:image/png;base64," + base64.b64encode(b"GIF89a not a png").decode(),
    "data:image/png;base64,iVBORw0KGgo=\" onerror=\"alert(1)",
    "data:image/png;base64,@@@@",
    " " + PNG,
    12345,
    None,
]


@pytest.mark.parametrize("value", BAD_IMAGES, ids=range(len(BAD_IMAGES)))
def test_only_png_data_uris_become_images(value):
    assert png_data_uri(value) is None
    data = make_certificate(hostile={"image": value}, with_strata=False)
    html = render_html(data)
    srcs = [a["src"] for a in Page(html).tags("img")]
    assert all(png_data_uri(s) == s for s in srcs)
    if isinstance(value, str):
        assert value not in srcs
    assert "image withheld: not a PNG data URI" in html


def test_a_real_png_thumbnail_is_shown():
    assert png_data_uri(PNG) == PNG
    html = render_html(make_certificate(with_strata=False))
    assert f'src="{PNG}"' in html


def test_embed_json_cannot_end_the_script_element():
    data = {"a": "</script><script>alert(1)</script>", "b": "<!--", "c": "&amp;", "d": "\udcff"}
    text = embed_json(data)
    assert "<" not in text and ">" not in text and "&" not in text
    text.encode("utf-8")
    assert json.loads(text) == data


def test_embedded_certificate_says_what_is_wrong():
    with pytest.raises(ValueError, match="no <script"):
        embedded_certificate("<html></html>")
    with pytest.raises(ValueError, match="not valid JSON"):
        embedded_certificate('<script type="application/json" id="certificate-data">{oops</script>')


def _as_schema_1(data: dict[str, Any]) -> dict[str, Any]:
    old = copy.deepcopy(data)
    for key in V2_ONLY:
        old.pop(key, None)
    old["schema"] = "medrobust.certificate/1"
    old["summary"].pop("checks_by_conclusion")
    old["summary"].pop("inconclusive")
    for spec in old["specs"]:
        spec.pop("conclusion")
        for check in spec["checks"]:
            for key in ("conclusion", "interval", "strata", "case_id"):
                check.pop(key)
    old["digest"] = compute_digest(old)
    return old


def test_a_schema_1_certificate_still_renders(cert):
    old = _as_schema_1(cert)
    html = render_html(old)
    text = Page(html).visible
    assert "Placeholder thresholds" in text
    assert "records no protocol" in text
    assert "Repeatability was not measured" in text and "Shortcut baselines were not measured" in text
    assert "No robustness curves are recorded in this certificate (schema medrobust.certificate/1" in text
    assert "✗ fail" in text and "✓ pass" in text  # conclusions follow from 'passed'
    assert "predates intervals: its conclusions compare point estimates" in text
    assert canonical_json(embedded_certificate(html)) == canonical_json(old)


def test_a_certificate_with_almost_nothing_renders():
    html = render_html({"schema": "medrobust.certificate/1", "verdict": "NOT RUN", "digest": "0" * 64})
    assert "NOT RUN" in html and "No spec ran." in html


def test_a_large_certificate_stays_a_few_megabytes():
    # 50 specs x 10 noises x 5 severities = 2500 checks, each with A/B statistics and strata
    data = make_certificate(n_specs=50, noises=[f"noise_{i}" for i in range(10)])
    html = render_html(data)
    embedded = len(embed_json(data).encode())
    view = len(html.encode()) - embedded
    assert sum(len(s["checks"]) for s in data["specs"]) == 2500
    assert view < 2_000_000, f"the HTML view alone is {view / 1e6:.1f} MB"
    assert len(html.encode()) < 7_000_000, f"page is {len(html.encode()) / 1e6:.1f} MB"


def test_a_real_run_renders(toy):
    toy.makepyfile(test_spec='''
def test_mild(bench):
    bench.expect("gaussian_noise@1", metric="closed_accuracy", max_drop=0.5)

def test_strong(bench):
    bench.expect("gaussian_noise@5", metric="closed_accuracy", max_drop=0.0)
''')
    toy.runpytest("--model", "toy", "--dataset", "toy", "-p", "no:cacheprovider")
    data = json.loads((toy.path / "reports" / "certificate.json").read_text())
    html = (toy.path / "reports" / "certificate.html").read_text()
    assert html == render_html(data)
    assert canonical_json(embedded_certificate(html)) == canonical_json(data)
    page = Page(html)
    assert data["verdict"] in page.visible and data["digest"] in page.visible
    assert "gaussian_noise@5" in page.visible
    # the evidence of a schema /2 (or later) run reaches the page
    if not data["schema"].endswith("/1"):
        assert data["environment"]["python"] in page.visible
        assert "Placeholder thresholds" in page.visible  # no --protocol given
        assert "No robustness curves" not in page.visible and "No heat map" not in page.visible


def test_every_check_under_a_loosened_threshold_is_flagged_not_only_the_first_of_its_group():
    # evidence.deviations keeps one entry per spec, metric and threshold; each check carries its own flag
    data = make_certificate(with_strata=False)
    spec = data["specs"][0]
    flagged = [c for c in spec["checks"] if c["metric"] == spec["checks"][0]["metric"]][:2]
    assert len(flagged) == 2 and flagged[0]["composition_key"] != flagged[1]["composition_key"]
    for c in spec["checks"]:
        c["deviation"] = "threshold max_drop 0.15 in this run, 0.1 in the protocol" if c in flagged else None
    data["protocol"]["deviations"] = [{"spec": spec["id"], "metric": flagged[0]["metric"],
                                       "composition_key": flagged[0]["composition_key"],
                                       "protocol": {"max_drop": 0.1}, "run": {"max_drop": 0.15},
                                       "message": "threshold max_drop 0.15 in this run, 0.1 in the protocol",
                                       "checks": 2}]
    rows = re.findall(r'<tr class="(?:pass|fail|inconclusive)"><td>(?!<a )(.*?)</tr>', render_html(data))
    marked = [row.split("</td>")[0] for row in rows if "⚠ differs from the protocol" in row]
    assert marked == [c["composition_key"] for c in flagged]
