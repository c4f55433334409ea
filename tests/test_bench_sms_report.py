"""bench/sms_report.py --quick: what SMS does to clean and noisy questions, per text noise, in every mode."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "plugins" / "reference" / "weights" / "model.safetensors"


@pytest.mark.skipif(not WEIGHTS.is_file(), reason=f"needs the reference weights {WEIGHTS}")
def test_quick_report_measures_clean_changes_and_fixes_per_noise(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("sms_report", ROOT / "bench" / "sms_report.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "sms.json"
    bench.main(["--quick", "--modes", "tools", "model", "--format", "USER: {} ASSISTANT:", "--json", str(out)])
    stdout = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["samples"] == 24 and result["severities"] == [3]
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
    assert "changed" in stdout and "keyboard_typos" in stdout
    for bad, message in ((["--format", "no placeholder"], "--format must contain {}"),
                         (["--option", "rounds"], "--option takes KEY=VALUE")):
        with pytest.raises(SystemExit):
            bench.main(bad)
        assert message in capsys.readouterr().err
