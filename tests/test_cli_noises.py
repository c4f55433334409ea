"""``medrobust noises``: the catalogue, measured, as text and JSON, and contact sheets."""

import json

from PIL import Image

from medrobust.cli import main


def test_json_lists_every_noise_with_measured_strength_per_severity(capsys):
    assert main(["noises", "--json", "--samples", "6"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in data["noises"]}
    assert {"gaussian_noise", "jpeg", "char_typos"} <= set(rows)
    for row in rows.values():
        assert len(row["severities"]) == 5 and len(row["measured"]) == 5
        assert row["measure"] == ("ssim" if row["modality"] == "image" else "edit_similarity")
        assert row["family"] and row["description"] and row["rationale"] and row["plugin"] == "builtins"
    assert rows["gaussian_noise"]["measured"][0] > rows["gaussian_noise"]["measured"][4]


def test_text_listing(capsys):
    assert main(["noises", "--no-measure"]) == 0
    out = capsys.readouterr().out
    assert "gaussian_noise  [image/noise" in out and "1: sigma=0.02" in out
    assert "  why: Magnitude MR images at low SNR" in out


def test_contact_sheet_png(tmp_path, capsys):
    out = tmp_path / "sheet.png"
    assert main(["noises", "--show", "gaussian_blur", "--output", str(out)]) == 0
    sheet = Image.open(out)
    assert sheet.width > 6 * 64 * 2 and sheet.height > 64 * 2
    assert main(["noises", "--show", "char_typos"]) == 0
    assert "severity 5" in capsys.readouterr().out
