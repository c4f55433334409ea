"""bench/sms_report.py --quick: what SMS does to clean and noisy questions, per text noise, in every mode."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "plugins" / "reference" / "weights" / "model.safetensors"


@pytest.mark.skipif(not WEIGHTS.is_file(), reason=f"needs the reference weights {WEIGHTS}")
def test_quick_report_measures_clean_changes_and_fixes_per_noise(tmp_path):
    out = tmp_path / "sms.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "sms_report.py"), "--quick", "--modes", "tools",
                           "model", "--format", "USER: {} ASSISTANT:", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["samples"] == 32 and result["severities"] == [3]
    for mode in ("tools", "model"):
        rows = result["modes"][mode]["rows"]
        assert [(r["noise"], r["severity"]) for r in rows] == [
            ("clean", 0), ("keyboard_typos", 3), ("ocr_confusions", 3), ("split_words", 3)]
        clean = rows[0]
        assert clean["exact_before"] == 1.0 and clean["dist_before"] == 0.0
        for r in rows:
            assert 0 <= r["changed"] <= 1 and 0 <= r["harmed"] <= 1 and 0 <= r["abstained"] <= 1
            assert 0 <= r["acc_before"] <= 1 and 0 <= r["acc_after"] <= 1 and r["ms_per_question"] > 0
    assert result["modes"]["tools"]["agents"]["mode"] == "tools"
    model = result["modes"]["model"]
    assert model["agents"]["mode"] == "model"
    assert model["agents"]["prompts"]["assess_prompt"].startswith("USER: Is this question well written?")
    # the tools fix typos: the noisy questions move toward the clean ones
    typos = result["modes"]["tools"]["rows"][1]
    assert typos["dist_after"] < typos["dist_before"] and typos["exact_after"] > typos["exact_before"]
    assert "changed" in proc.stdout and "keyboard_typos" in proc.stdout
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run([sys.executable, str(ROOT / "bench" / "sms_report.py"), "--format", "no placeholder"],
                       capture_output=True, check=True, timeout=60)
