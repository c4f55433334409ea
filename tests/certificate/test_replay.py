"""``medrobust replay CERT --case ID``: a counterexample's inputs rebuilt bit for bit, the model asked again."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cert_runs import copy_twins, load, planted_run
from PIL import Image

from medrobust._canonical import text_digest
from medrobust._canonical import canonical_json
from medrobust.certificate.replay import ReplayError, replay_case
from medrobust.cli import main
from medrobust.sample import image_digest


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A real certificate with failure cases; its conftest registers the toy plugin."""
    return planted_run(tmp_path_factory.mktemp("planted"))


def _case(cert, spec="test_planted.py::test_planted"):
    return next(c for c in cert["cases"] if c["spec"] == spec)


def test_replay_rebuilds_the_noisy_inputs_bit_for_bit_and_asks_again(planted, tmp_path, capsys):
    cert = load(planted)
    case = _case(cert)
    out = tmp_path / "rebuilt"
    rc = main(["replay", str(planted.with_suffix(".html")), "--case", case["id"],
               "--plugin", str(planted.parents[1] / "conftest.py"), "--output", str(out), "--json"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    examples = report["examples"]
    assert [e["sample_id"] for e in examples] == [e["sample_id"] for e in case["examples"]]
    for got, recorded in zip(examples, case["examples"]):
        assert got["reproduced"] and got["records_match"]
        assert got["image_sha256"] == [recorded["noisy_image_sha256"]] * 2
        assert got["question_sha256"] == [recorded["noisy_question_sha256"]] * 2
        # asked again: the planted model judges a whole batch, and replay's batch is the examples alone
        assert got["answer"][0] == recorded["answer_noisy"] and got["answer"][1] in ("yes", "no")
        # the files written are the noisy inputs themselves
        image_path, question_path = got["files"]
        assert image_digest(Image.open(image_path)) == recorded["noisy_image_sha256"]
        question = Path(question_path).read_text(encoding="utf-8")
        assert question == recorded["question_noisy"] and text_digest(question) == recorded["noisy_question_sha256"]


def test_replay_text_output_shows_recorded_and_new_answers(planted, capsys):
    case = _case(load(planted), "test_planted.py::test_known")
    assert main(["replay", str(planted), "--case", case["id"], "--plugin", str(planted.parents[1] / "conftest.py")]) == 0
    out = capsys.readouterr().out
    assert f"{case['id']}: test_planted.py::test_known  closed_accuracy under char_typos@4+gaussian_noise@4" in out
    assert out.count("inputs bit for bit") == len(case["examples"])
    assert out.count("answer recorded") == len(case["examples"])
    assert case["replay_command"] in out


def test_a_changed_recorded_hash_is_reported_as_not_reproduced(planted, tmp_path, capsys):
    path = copy_twins(planted, tmp_path)
    cert = load(path)
    case = _case(cert)
    case["examples"][1]["noisy_image_sha256"] = "0" * 64
    path.write_text(canonical_json(cert), encoding="utf-8")
    rc = main(["replay", str(path), "--case", case["id"], "--plugin", str(planted.parents[1] / "conftest.py")])
    assert rc == 1
    out = capsys.readouterr().out
    assert "INPUTS DIFFER" in out and f"image sha256 recorded {'0' * 64}" in out


def test_unknown_case_lists_the_ids(planted, capsys):
    assert main(["replay", str(planted), "--case", "case-99"]) == 2
    err = capsys.readouterr().err
    ids = ", ".join(c["id"] for c in load(planted)["cases"])
    assert f"no case 'case-99' in this certificate; its cases: {ids}" in err


def test_a_model_from_an_unloaded_plugin_says_to_load_it(planted, capsys):
    case = _case(load(planted))
    assert main(["replay", str(planted), "--case", case["id"]]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'planted'" in err and "--plugin" in err and "came from plugin" in err


def test_an_unavailable_dataset_path_is_a_clear_error(planted, tmp_path, capsys):
    path = copy_twins(planted, tmp_path)
    cert = load(path)
    cert["run"]["options"]["dataset_path"] = str(tmp_path / "gone")
    path.write_text(canonical_json(cert), encoding="utf-8")
    case = _case(cert)
    rc = main(["replay", str(path), "--case", case["id"], "--plugin", str(planted.parents[1] / "conftest.py")])
    assert rc == 2
    assert f"the certificate's dataset path '{tmp_path / 'gone'}' is not available here" in capsys.readouterr().err


def test_a_model_that_raises_still_gets_its_inputs_checked(planted, tmp_path, capsys):
    path = copy_twins(planted, tmp_path)
    cert = load(path)
    cert["run"]["options"]["model"] = "flaky"  # raises on sample 4, answers "yes" otherwise
    path.write_text(canonical_json(cert), encoding="utf-8")
    case = _case(cert)
    flaky = [e["sample_id"] for e in case["examples"]]
    rc = main(["replay", str(path), "--case", case["id"], "--plugin", str(planted.parents[1] / "conftest.py")])
    out = capsys.readouterr().out
    assert rc == 0 and out.count("inputs bit for bit") == len(flaky)
    assert "toy/test/4" in flaky  # the examples are the first closed samples whose score fell
    assert out.count("the model raised: RuntimeError: corrupt input on sample 4") == len(flaky)


def _edited(planted, tmp_path, edit):
    """A copy of the planted certificate with ``edit(case)`` applied to its planted case; (path, case id)."""
    path = copy_twins(planted, tmp_path)
    cert = load(path)
    case = _case(cert)
    edit(case)
    path.write_text(canonical_json(cert), encoding="utf-8")
    return path, case["id"]


def test_a_noise_version_other_than_the_recorded_one_is_a_clear_error(planted, tmp_path, capsys):
    def edit(case):
        case["examples"][0]["applied"][0]["version"] = "0"

    path, case_id = _edited(planted, tmp_path, edit)
    name = _case(load(path))["examples"][0]["applied"][0]["name"]
    rc = main(["replay", str(path), "--case", case_id, "--plugin", str(planted.parents[1] / "conftest.py")])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"noise {name!r} is version 1 here but the certificate recorded version 0" in err


def test_a_composition_the_noises_reject_is_a_clear_error_not_a_traceback(planted, tmp_path, capsys):
    def edit(case):
        case["composition"][0]["severity"] = 9

    path, case_id = _edited(planted, tmp_path, edit)
    rc = main(["replay", str(path), "--case", case_id, "--plugin", str(planted.parents[1] / "conftest.py")])
    err = capsys.readouterr().err
    assert rc == 2 and f"case {case_id!r} cannot be rebuilt here:" in err and "must be 1-5, got 9" in err
    with pytest.raises(ReplayError, match="must be 1-5, got 9"):  # the API raises what it documents
        replay_case(load(path), case_id, [str(planted.parents[1] / "conftest.py")])


def test_a_case_without_examples_rebuilds_nothing_and_exits_3(planted, tmp_path, capsys):
    def edit(case):
        case["examples"] = []

    path, case_id = _edited(planted, tmp_path, edit)
    rc = main(["replay", str(path), "--case", case_id, "--plugin", str(planted.parents[1] / "conftest.py")])
    out = capsys.readouterr().out
    assert rc == 3 and "nothing was rebuilt" in out
    assert main(["replay", str(path), "--case", case_id, "--json",
                 "--plugin", str(planted.parents[1] / "conftest.py")]) == 3
    assert json.loads(capsys.readouterr().out)["examples"] == []
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    assert "3 the case has no examples" in " ".join(capsys.readouterr().out.split())


def _medrobust(words, cwd, timeout=120):
    """Run a printed ``medrobust ...`` command in a fresh interpreter (as a user's shell would) in ``cwd``."""
    assert words[0] == "medrobust"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "medrobust.cli", *words[1:]], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=timeout, check=False)


def test_the_printed_replay_commands_load_the_conftest_that_registered_the_model(planted):
    case = _case(load(planted))
    where = planted.parents[1]
    evaluate = shlex.split(case["replay_command"])
    assert evaluate[evaluate.index("--plugin") + 1] == "conftest.py"  # relative to where pytest ran
    assert case["replay_case_command"] == f"medrobust replay CERT --case {case['id']} --plugin conftest.py"
    done = _medrobust(evaluate, where)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"composition: {case['composition_key'].replace('+', ' + ')}   (24 samples" in done.stdout
    assert "closed_accuracy      clean 1.000" in done.stdout
    replay = shlex.split(case["replay_case_command"].replace("CERT", str(planted)))
    done = _medrobust(replay, where)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("inputs bit for bit") == len(case["examples"])


def test_a_conftest_that_loads_the_hypothesis_profile_loads_outside_pytest(planted, tmp_path):
    # suites/conftest.py loads medrobust's hypothesis profile, which only the pytest plugin registered
    case = _case(load(planted))
    suites = Path(__file__).resolve().parents[2] / "suites" / "conftest.py"
    conftest = str(planted.parents[1] / "conftest.py")
    done = _medrobust(["medrobust", "replay", str(planted), "--case", case["id"], "--plugin", str(suites),
                       "--plugin", conftest, "--plugin", str(suites)], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("inputs bit for bit") == len(case["examples"])
    evaluate = shlex.split(case["replay_command"])
    evaluate[evaluate.index("--plugin") + 1] = conftest
    done = _medrobust([*evaluate, "--plugin", str(suites)], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_plugin_file_that_breaks_or_is_missing_is_one_line(planted, tmp_path, capsys):
    case = _case(load(planted))
    broken = tmp_path / "conftest.py"
    broken.write_text("import medrobust\nraise RuntimeError('no GPU here')\n", encoding="utf-8")
    assert main(["replay", str(planted), "--case", case["id"], "--plugin", str(broken)]) == 2
    assert main(["evaluate", "--composition", "clean", "--plugin", str(tmp_path / "gone.py")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"medrobust: error: plugin file {broken} failed to load: RuntimeError: no GPU here",
                   f"medrobust: error: plugin file {tmp_path / 'gone.py'} does not exist"]


def test_a_record_made_on_a_gpu_replays_here_with_the_same_records_and_says_the_image_is_another_draw(
        planted, tmp_path, capsys):
    path = copy_twins(planted, tmp_path)
    cert = load(path)
    cert["run"]["options"]["noise_device"] = "cuda:99"  # a device no machine here has: rebuilt on the CPU
    path.write_text(canonical_json(cert), encoding="utf-8")
    case = _case(cert)
    plugin = str(planted.parents[1] / "conftest.py")
    assert main(["replay", str(path), "--case", case["id"], "--plugin", plugin, "--json"]) == 0
    examples = json.loads(capsys.readouterr().out)["examples"]
    for got, recorded in zip(examples, case["examples"]):
        # parameters, seeds and the question are the device's to keep; the image is not compared
        assert got["noise_device"] == ["cuda", "cpu"] and not got["image_compared"]
        assert got["records_match"] and got["reproduced"]
        assert got["question_sha256"] == [recorded["noisy_question_sha256"]] * 2
    assert main(["replay", str(path), "--case", case["id"], "--plugin", plugin]) == 0
    out = capsys.readouterr().out
    assert out.count("image noise made on cuda, rebuilt on cpu: another draw of the same law") == len(examples)
    # a record made on the CPU is compared bit for bit, whatever device the model is replayed on
    cpu = replay_case(load(planted), case["id"], [plugin], device="cpu")
    assert all(r.image_compared and r.reproduced for r in cpu)
