"""``medrobust verify``: section digests, the overall digest, both twins, exit codes."""

import json
import os
import random
import shutil

import pytest
from cert_runs import NOISE_SENSITIVE_MODELS, copy_twins, load, planted_run, spec_run

from medrobust.certificate.integrity import check_digests, json_differences, verify
from medrobust._canonical import canonical_json
from medrobust.certificate.record import DIGEST_EXCLUDES
from medrobust.cli import main


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, path + (i,))
    else:
        yield path, value


def _one_char_change(value):
    """The value with one character of its JSON text changed (None for null)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, str):
        return "x" if not value else chr(ord(value[0]) ^ 1) + value[1:]
    if isinstance(value, int):
        return value + 1 if value % 10 != 9 else value - 1
    if isinstance(value, float):
        text = repr(value)
        i = max(i for i, c in enumerate(text) if c.isdigit())
        return float(text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1:])
    return None


def _set(data, path, value):
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A real certificate (JSON twin and HTML view) of a run with passing, failing and known-failure specs."""
    return planted_run(tmp_path_factory.mktemp("planted"))


@pytest.fixture
def certificate(planted, tmp_path):
    """A fresh copy of both twins, for one test to change."""
    return copy_twins(planted, tmp_path / "reports")


def test_a_fresh_certificate_is_valid_both_ways(certificate, capsys):
    assert main(["verify", str(certificate)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"valid: {certificate}") and "holds the same data" in out
    html = certificate.with_suffix(".html")
    assert main(["verify", str(html)]) == 0
    result = verify(html)
    assert result.valid and result.view_differs is False  # same harness: the page was re-rendered and compared
    data = load(certificate)
    assert set(data["section_digests"]) == set(data) - set(DIGEST_EXCLUDES) - {"section_digests"}
    assert {"cases", "specs", "model", "dataset", "run"} <= set(data["section_digests"])


def test_every_one_character_change_in_the_results_is_detected(certificate):
    data = load(certificate)
    covered = [(p, v) for p, v in _leaves(data) if p[0] not in DIGEST_EXCLUDES and v is not None]
    assert len(covered) > 1000  # specs, checks, cases with their examples, noises, identities
    # every section, up to 40 leaves of each (a seeded sample), so the test stays quick
    rng = random.Random(0)
    sample = []
    for section in sorted({p[0] for p, _ in covered}):
        leaves = [(p, v) for p, v in covered if p[0] == section]
        sample += leaves if len(leaves) <= 40 else rng.sample(leaves, 40)
    assert len({p[0] for p, _ in sample}) >= 12
    missed = []
    for path, value in sample:
        _set(data, path, _one_char_change(value))
        result = check_digests(data)
        _set(data, path, value)
        # the overall digest always changes; the section digests say where
        expected = path[1] if path[0] == "section_digests" else path[0]
        if result.valid or result.stored_digest == result.computed_digest or expected not in result.changed_sections:
            missed.append(path)
    assert not missed, f"undetected changes at {missed[:10]}"
    assert check_digests(data).valid  # every change was undone


def test_a_changed_json_twin_names_the_section_and_the_path(certificate, capsys):
    data = load(certificate)
    case = data["cases"][0]
    case["examples"][0]["answer_noisy"] = case["examples"][0]["answer_noisy"] + "."
    certificate.write_text(canonical_json(data) + "\n", encoding="utf-8")
    assert main(["verify", str(certificate)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("TAMPERED") and "section 'cases' changed" in out
    assert "$.cases[0].examples[0].answer_noisy" in out
    assert "section 'specs'" not in out


def test_wall_clock_and_local_paths_are_outside_the_digest(certificate):
    data = load(certificate)
    data["timing"]["finished_at"] = "1999-01-01T00:00:00+00:00"
    data["local"]["certificate"] = "/elsewhere/cert"
    assert check_digests(data).valid


def test_a_changed_visible_text_of_the_html_is_detected(certificate, capsys):
    html = certificate.with_suffix(".html")
    text = html.read_text(encoding="utf-8")
    start = text.index('id="certificate-data"')
    shown = text[:start]
    i = shown.index("test_planted.py::test_planted")
    html.write_text(shown[:i] + "X" + shown[i + 1:] + text[start:], encoding="utf-8")
    assert main(["verify", str(html)]) == 1
    out = capsys.readouterr().out
    assert "visible text differs from the rendering of its embedded data" in out
    assert "holds the same data" in out  # the embedded data itself is untouched


def test_a_changed_embedded_json_is_detected_against_the_twin(certificate, capsys):
    html = certificate.with_suffix(".html")
    data = load(certificate)
    text = html.read_text(encoding="utf-8")
    name = data["model"]["name"]
    start = text.index('id="certificate-data"')
    head, embedded = text[:start], text[start:]
    at = embedded.index(f'"name":"{name}"', embedded.index('"model":{'))
    embedded = embedded[:at] + f'"name":"{name[:-1]}X"' + embedded[at + len(f'"name":"{name}"'):]
    html.write_text(head + embedded, encoding="utf-8")
    assert main(["verify", str(html), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False and report["changed_sections"] == ["model"]
    assert report["twin_differences"] == ["$.model.name"]


def test_unreadable_files_exit_2(tmp_path, certificate, capsys):
    assert main(["verify", str(tmp_path / "missing.json")]) == 2
    (tmp_path / "broken.json").write_text('{"digest": "ab", ', encoding="utf-8")
    assert main(["verify", str(tmp_path / "broken.json")]) == 2
    (tmp_path / "page.html").write_text("<html><body>no data</body></html>", encoding="utf-8")
    assert main(["verify", str(tmp_path / "page.html")]) == 2
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    assert main(["verify", str(tmp_path / "binary.json")]) == 2
    err = capsys.readouterr().err
    assert "missing.json" in err and "not valid JSON" in err and "certificate-data" in err and "UTF-8" in err
    # a lone JSON twin (no HTML beside it) verifies on its own, with the answers file named after it
    shutil.copy(certificate, tmp_path / "alone.json")
    shutil.copy(certificate.with_name("certificate.answers.jsonl"), tmp_path / "alone.answers.jsonl")
    assert main(["verify", str(tmp_path / "alone.json")]) == 0


def test_json_differences_lists_paths():
    a = {"x": [1, {"y": "a"}], "z": 1.0, "only": 1}
    b = {"x": [1, {"y": "b"}, 3], "z": float("nan")}
    assert json_differences(a, b, ("A", "B")) == ["$.only (only in the A)", "$.x[1].y", "$.x (length 2 against 3)",
                                                  "$.z"]


def test_hostile_answers_keep_the_certificate_verifiable(tmp_path, capsys):
    spec = "def test_pixels(bench):\n    bench.expect('gaussian_noise@2', metric='closed_accuracy', max_drop=0.1)\n"
    path = spec_run(tmp_path, spec, ("--model", "hostile", "--dataset", "toy", "-p", "no:cacheprovider",
                                     "--journal", "none"), "1 failed", NOISE_SENSITIVE_MODELS)
    answer = load(path)["cases"][0]["examples"][0]["answer_noisy"]
    assert answer.startswith("<script>alert(1)</script> {{ 7*7 }} </table> \udcff") and len(answer) > 10000
    assert main(["verify", str(path)]) == 0 and main(["verify", str(path.with_suffix(".html"))]) == 0
    assert capsys.readouterr().out.count("holds the same data") == 2
    # control and bidi characters: exact in the JSON, visibly escaped on the page, nowhere raw in it
    assert "\udcff \x00\x1b[31m\u202eevil\r\x85long" in answer
    page = path.with_suffix(".html").read_text(encoding="utf-8")
    assert not [c for c in "\x00\x1b\u202e\r\x85" if c in page]
    assert "\ufffd \\x00\\x1b[31m\\u202eevil\\r\\x85long" in page


def test_the_view_check_follows_the_view_code_not_the_git_revision(certificate, capsys, monkeypatch):
    import medrobust.certificate.record as record

    html = certificate.with_suffix(".html")
    text = html.read_text(encoding="utf-8")
    start = text.index('id="certificate-data"')
    i = text.index("test_planted.py::test_planted")
    html.write_text(text[:i] + "X" + text[i + 1:start] + text[start:], encoding="utf-8")
    # another commit or an installed copy: same view code, so the edited page is still caught
    monkeypatch.setattr(record, "_git_revision", lambda: "0" * 40)
    assert main(["verify", str(html)]) == 1
    assert "visible text differs" in capsys.readouterr().out
    # other view code: the page cannot be re-rendered exactly, and verify says so
    monkeypatch.setattr(record, "view_digest", lambda: "f" * 64)
    assert main(["verify", str(html)]) == 0
    assert "view not verified" in capsys.readouterr().out


def _windows(path, bom=False, crlf=True):
    """``path`` as a Windows tool leaves it: CRLF line endings and/or a UTF-8 byte order mark."""
    raw = path.read_bytes()
    if crlf:
        raw = raw.replace(b"\n", b"\r\n")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + raw)


@pytest.mark.parametrize("bom, crlf", [(False, True), (True, False), (True, True)])
def test_a_certificate_moved_through_windows_tools_still_verifies(certificate, capsys, bom, crlf):
    answers = certificate.with_name("certificate.answers.jsonl")
    for path in (certificate, certificate.with_suffix(".html"), answers):
        _windows(path, bom, crlf)
    assert b"\r\n" in answers.read_bytes() or not crlf
    for path in (certificate, certificate.with_suffix(".html")):
        assert main(["verify", str(path)]) == 0, capsys.readouterr().out
        out = capsys.readouterr().out
        assert out.startswith(f"valid: {path}") and "holds the same data" in out
        assert ("CRLF line endings were read as LF" in out) == crlf
        assert ("byte order mark was ignored" in out) == bom
        assert f"answers file {answers}: matches the certificate's sha256 once" in out


def test_a_change_is_still_caught_after_crlf_conversion(certificate, capsys):
    answers = certificate.with_name("certificate.answers.jsonl")
    for path in (certificate, certificate.with_suffix(".html"), answers):
        _windows(path)
    text = answers.read_bytes()
    at = text.index(b'"answer":"') + len(b'"answer":"')
    answers.write_bytes(text[:at] + b"X" + text[at + 1:])
    assert main(["verify", str(certificate)]) == 1
    assert f"answers file {answers} changed" in capsys.readouterr().out
    html = certificate.with_suffix(".html")
    text = html.read_bytes()
    i = text.index(b"test_planted.py::test_planted")
    html.write_bytes(text[:i] + b"X" + text[i + 1:])
    assert main(["verify", str(html)]) == 1
    assert "visible text differs from the rendering" in capsys.readouterr().out


DEEP = 100_000


@pytest.mark.parametrize("name, content", [
    ("deep.json", "[" * DEEP + "]" * DEEP),
    ("deep-member.json", '{"schema": "medrobust.certificate/4", "digest": "0", "x": ' + "[" * DEEP + "]" * DEEP + "}"),
    ("deep-but-parses.json", '{"schema": "medrobust.certificate/4", "digest": "0", "x": ' + "[" * 500 + "]" * 500 + "}"),
    ("deep.html", '<script type="application/json" id="certificate-data">' + "[" * DEEP + "]" * DEEP + "</script>"),
])
def test_deeply_nested_json_cannot_be_checked_and_exits_2(tmp_path, capsys, name, content):
    (tmp_path / name).write_text(content, encoding="utf-8")
    assert main(["verify", str(tmp_path / name)]) == 2
    captured = capsys.readouterr()
    assert "nested" in captured.err and "not a medrobust certificate" in captured.err
    assert "Traceback" not in captured.err and len(captured.err.splitlines()) <= 2


def test_what_is_not_a_certificate_file_exits_2(tmp_path, capsys):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "other.json").write_text('{"digest": "ab", "results": []}', encoding="utf-8")
    (tmp_path / "utf16.json").write_bytes('{"digest": "ab"}'.encode("utf-16"))
    expected = {fifo: "not a regular file", tmp_path / "folder.json": "is a folder", "/dev/zero": "not a regular file",
                tmp_path / "other.json": "not a medrobust certificate (its 'schema' is None",
                tmp_path / "utf16.json": "UTF-16 text, not UTF-8"}
    for path, message in expected.items():
        assert main(["verify", str(path)]) == 2, path
        err = capsys.readouterr().err
        assert str(path) in err and message in err and len(err.splitlines()) == 1


def test_verify_help_states_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "exit status: 0 valid; 1 tampered" in out and "2 cannot be checked" in out
    assert "JSON nested too deeply" in out and "byte order mark" in out
