"""Loading as transformers users load: a repo id from the local Hugging Face cache (never downloaded),
``device_map`` / ``max_memory`` through accelerate, ``attn_implementation``, 8/4-bit bitsandbytes weights,
and a clear start-up error naming the package and the pip command where one is missing.

Every checkpoint is a tiny random-weight LLaVA built offline by ``tiny_llava``; the "cache" is a throwaway
folder laid out as ``hf download`` leaves one (blobs, snapshot links, ``refs/main``).
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import medrobust  # noqa: E402
from medrobust import Capabilities, PhantomVQA, capabilities_of  # noqa: E402  # before any pytester run
from medrobust_plugins.hf import _loading, hf_vlm_model, llava_med_model  # noqa: E402
from medrobust_plugins.hf._hub import NotInCache  # noqa: E402
from medrobust_plugins.hf._loading import MissingPackage, parse_max_memory  # noqa: E402
from medrobust_plugins.hf.hf_vlm import HFVLM  # noqa: E402
from medrobust_plugins.hf.llava_med import LlavaMed  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import tiny_llava  # noqa: E402

REPO_ID = "medrobust-test/tiny-llava"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
OPTIONS = {"batch_size": 4, "max_new_tokens": 6}
CONFTEST = 'pytest_plugins = ["medrobust.pytest_plugin"]\n'  # how a user's repository activates medrobust
SPEC = '''
def test_one(bench):
    bench.expect("gaussian_noise@1", max_drop=0.5)
'''


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_llava.save_tiny_llava(tmp_path_factory.mktemp("llava") / "tiny", chat_template=True)


@pytest.fixture(scope="module")
def hub_cache(checkpoint, tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("hf-cache")
    tiny_llava.place_in_hub_cache(checkpoint, cache, REPO_ID, COMMIT, refs=("main", "v1.0"))
    return cache


@pytest.fixture
def offline(hub_cache, monkeypatch) -> Path:
    """HF_HUB_OFFLINE=1, HF_HUB_CACHE at the throwaway cache, and any network connection fails the test."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))

    def refuse(*args, **kwargs):
        raise AssertionError(f"a network connection was attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return hub_cache


@pytest.fixture(scope="module")
def samples():
    return PhantomVQA({}).samples("test")[:6]


@pytest.fixture(scope="module")
def local(checkpoint) -> LlavaMed:
    return LlavaMed({"path": str(checkpoint), **OPTIONS})


# -- a repo id from the local cache ----------------------------------------------------------------
def test_a_repo_id_loads_offline_and_the_description_names_repo_and_commit(offline, local, samples) -> None:
    model = LlavaMed({"repo": REPO_ID, **OPTIONS})
    ident, before = model.describe(), local.describe()
    assert model.path == offline / f"models--medrobust-test--tiny-llava/snapshots/{COMMIT}"
    assert (ident["repo_id"], ident["revision"], ident["revision_requested"]) == (REPO_ID, COMMIT, "main")
    for key in ("weights_sha256", "config_sha256", "processor_sha256"):  # digests of the blobs the links reach
        assert ident[key] == before[key]
    assert "repo_id" not in before and "revision" not in before  # a local directory names no repo
    assert str(offline) not in json.dumps(ident)
    assert model.answer(samples) == local.answer(samples)


@pytest.mark.parametrize("revision", ["v1.0", COMMIT, COMMIT[:8]])
def test_a_revision_is_a_ref_a_commit_or_a_unique_commit_prefix(offline, revision) -> None:
    ident = LlavaMed({"repo": REPO_ID, "revision": revision, **OPTIONS}).describe()
    assert ident["revision"] == COMMIT and ident["revision_requested"] == revision


def test_a_repo_not_in_the_cache_says_where_it_looked_and_how_to_get_it(offline, tmp_path, monkeypatch) -> None:
    with pytest.raises(NotInCache) as info:
        LlavaMed({"repo": "llava-hf/llava-1.5-7b-hf"})
    message = str(info.value)
    assert message.startswith("llava-med: llava-hf/llava-1.5-7b-hf is not in the local Hugging Face cache "
                              f"(looked for {offline / 'models--llava-hf--llava-1.5-7b-hf'}; the cache is "
                              f"{offline}, from HF_HUB_CACHE)")
    assert "`hf download llava-hf/llava-1.5-7b-hf`" in message and "huggingface-cli download" in message
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(NotInCache, match=f"looked for {tmp_path / 'hub' / 'models--llava-hf--llava-1.5-7b-hf'};"
                                         f" the cache is {tmp_path / 'hub'}, from HF_HOME/hub"):
        HFVLM({"repo": "llava-hf/llava-1.5-7b-hf"})


def test_an_unknown_revision_lists_what_the_cache_holds(offline) -> None:
    with pytest.raises(NotInCache) as info:
        LlavaMed({"repo": REPO_ID, "revision": "v2"})
    message = str(info.value)
    assert f"revision 'v2' of {REPO_ID} is not in the local Hugging Face cache" in message
    assert f"it holds the revisions main, v1.0 and the snapshots {COMMIT[:12]}" in message
    assert f"`hf download {REPO_ID} --revision v2`" in message


def test_repo_options_that_cannot_be_used(offline, checkpoint) -> None:
    with pytest.raises(medrobust.OptionError, match=r"repo='not a repo' is not a Hugging Face repo id"):
        LlavaMed({"repo": "not a repo"})
    with pytest.raises(medrobust.OptionError, match=r"--model-path .* and repo=medrobust-test/tiny-llava both"):
        LlavaMed({"path": str(checkpoint), "repo": REPO_ID})
    with pytest.raises(medrobust.OptionError, match="revision=v1.0 picks a revision of repo=ORG/NAME"):
        LlavaMed({"path": str(checkpoint), "revision": "v1.0"})


def test_the_suites_run_on_a_repo_id_and_the_certificate_names_it(offline, pytester, monkeypatch) -> None:
    for variable in ("CI", "BUILD_NUMBER"):
        monkeypatch.delenv(variable, raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_spec=SPEC)
    run = pytester.runpytest(
        "--model", "llava-med", "--model-option", f"repo={REPO_ID}", "--model-option", "max_new_tokens=4",
        "--samples", "8", "--certificate", str(pytester.path / "cert"), "--journal", "none",
        "-p", "no:cacheprovider")
    assert run.ret in (0, 1), "\n".join(run.outlines[-30:])  # 1: random weights may fail the spec
    cert = json.loads((pytester.path / "cert.json").read_text())
    model = cert["model"]
    assert (model["repo_id"], model["revision"], model["revision_requested"]) == (REPO_ID, COMMIT, "main")
    assert cert["run"]["options"]["model_options"]["repo"] == REPO_ID
    assert cert["summary"]["error"] == 0
    assert str(offline) not in json.dumps(model)


def test_a_repo_id_given_as_model_path_is_pointed_at_the_repo_option(pytester, monkeypatch) -> None:
    for variable in ("CI", "BUILD_NUMBER"):
        monkeypatch.delenv(variable, raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_spec=SPEC)
    run = pytester.runpytest("--model", "llava-med", "--model-path=llava-hf/llava-1.5-7b-hf", "--journal", "none",
                             "-p", "no:cacheprovider")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert run.stderr.lines[0] == (
        "ERROR: model path llava-hf/llava-1.5-7b-hf does not exist; give a local file or directory (nothing is "
        "downloaded at run time); a Hugging Face repo id already in the local cache is given as --model-option "
        "repo=llava-hf/llava-1.5-7b-hf (llava-med, hf-vlm)")


# -- device_map, max_memory, attention ---------------------------------------------------------------
def test_device_map_auto_loads_through_accelerate_and_answers_the_same(offline, local, samples) -> None:
    """The repo id from the throwaway cache, placed by accelerate (on the CPU here): every output equal."""
    if not _loading.installed("accelerate"):
        pytest.skip('accelerate is not installed (pip install "medrobust[gpu]")')
    model = LlavaMed({"repo": REPO_ID, "device_map": "auto", "max_memory": "cpu:2GiB", **OPTIONS})
    assert str(model.device) == "cpu"
    assert model.answer(samples) == local.answer(samples)
    questions = [s.question for s in samples[:3]]
    assert model.score_text(questions) == local.score_text(questions)
    images = [s.image for s in samples[:3]]
    assert torch.equal(model.vision_features(images), local.vision_features(images))
    loading = model.describe()["loading"]
    assert loading["device_map"] == "auto" and loading["max_memory"] == {"cpu": "2GiB"}
    assert loading["devices"] == ["cpu"] and loading["quantization"] is None
    assert local.describe()["loading"]["device_map"] is None


def test_attn_implementation_is_passed_and_recorded(checkpoint, local, samples) -> None:
    model = LlavaMed({"path": str(checkpoint), "attn_implementation": "eager", **OPTIONS})
    assert model.describe()["loading"]["attn_implementation"] == "eager"
    assert local.describe()["loading"]["attn_implementation"] == "sdpa"  # transformers' own choice
    assert len(model.answer(samples[:2])) == 2
    if _loading.installed("flash_attn"):
        pytest.skip("flash-attn is installed: the missing-package message cannot be shown")
    with pytest.raises(MissingPackage, match=r"attn_implementation=flash_attention_2 needs the package flash_attn, "
                                             r"which is not installed here; install it with `pip install flash-attn"):
        LlavaMed({"path": str(checkpoint), "attn_implementation": "flash_attention_2"})


def test_what_only_the_machine_shows_is_refused_before_the_weights_load(checkpoint, monkeypatch) -> None:
    monkeypatch.setattr(LlavaMed, "load_model", lambda self, dtype: pytest.fail("weights loaded"))
    monkeypatch.setattr(_loading, "installed", lambda name: True)  # as if accelerate and flash-attn were there
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(medrobust.OptionError, match=r"attn_implementation=flash_attention_2 runs on CUDA in float16 "
                                                    r"or bfloat16 only \(here: no CUDA device, float32\); use "
                                                    "attn_implementation=sdpa"):
        LlavaMed({"path": str(checkpoint), "attn_implementation": "flash_attention_2"})
    with pytest.raises(medrobust.OptionError, match="device_map=cuda:1 names a CUDA device, but torch sees none"):
        LlavaMed({"path": str(checkpoint), "device_map": "cuda:1"})


def test_dtype_auto_is_bfloat16_where_device_map_reaches_a_gpu(monkeypatch) -> None:
    cpu = torch.device("cpu")
    options = {"device_map": "auto"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert _loading.auto_is_cuda(options, cpu, torch) and not _loading.auto_is_cuda({"device_map": "cpu"}, cpu, torch)
    assert not _loading.auto_is_cuda({"device_map": ""}, cpu, torch)
    assert _loading.auto_is_cuda({"device_map": ""}, torch.device("cuda"), torch)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not _loading.auto_is_cuda(options, cpu, torch)


def test_max_memory_is_parsed_and_checked() -> None:
    assert parse_max_memory("m", "0:20GiB, 1:20GiB,cuda:2:10GB,cpu:60GiB") == {
        0: "20GiB", 1: "20GiB", 2: "10GB", "cpu": "60GiB"}
    assert parse_max_memory("m", "cpu:1048576") == {"cpu": "1048576"}
    for text, message in [("20GiB", "max_memory entry '20GiB' is not DEVICE:SIZE"),
                          ("gpu0:20GiB", "max_memory device 'gpu0' is not a GPU index"),
                          ("0:lots", "max_memory size 'lots' for 0 is not a size")]:
        with pytest.raises(medrobust.OptionError, match=message):
            parse_max_memory("m", text)


@pytest.mark.parametrize("options, message", [
    ({"max_memory": "0:20GiB"}, "max_memory caps what device_map places on each device; add device_map=auto"),
    ({"device_map": "everywhere"}, "option device_map must be one of auto, balanced, balanced_low_0, sequential "
                                   "or a device"),
    ({"load_in": "2bit"}, "option load_in must be one of none, 8bit, 4bit"),
    ({"attn_implementation": "flash"}, "option attn_implementation must be one of auto, eager, sdpa"),
])
def test_loading_options_that_cannot_work_fail_before_the_weights_load(checkpoint, monkeypatch, options,
                                                                        message) -> None:
    monkeypatch.setattr(LlavaMed, "load_model", lambda self, dtype: pytest.fail("weights loaded"))
    with pytest.raises(medrobust.OptionError, match=message):
        LlavaMed({"path": str(checkpoint), **options})


@pytest.mark.parametrize("options, package", [
    ({"device_map": "auto"}, "accelerate"),
    ({"load_in": "8bit"}, "bitsandbytes"),
    ({"load_in": "4bit"}, "bitsandbytes"),
])
def test_a_missing_package_is_named_with_the_pip_command(checkpoint, monkeypatch, options, package) -> None:
    monkeypatch.setattr(_loading, "installed", lambda name: name != package)
    monkeypatch.setattr(LlavaMed, "load_model", lambda self, dtype: pytest.fail("weights loaded"))
    option = ", ".join(f"{k}={v}" for k, v in options.items())
    with pytest.raises(MissingPackage, match=rf"^llava-med: {option} needs the package {package}, which is not "
                                             r'installed here; install it with `pip install "medrobust\[gpu\]"`$'):
        LlavaMed({"path": str(checkpoint), **options})


def test_a_missing_package_stops_the_run_at_start_up_in_one_line(checkpoint, pytester, monkeypatch) -> None:
    for variable in ("CI", "BUILD_NUMBER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(_loading, "installed", lambda name: name != "accelerate")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_spec=SPEC)
    # --model-path=PATH in one word: a bare path argument would move pytest's rootdir above the conftest
    run = pytester.runpytest("--model", "llava-med", f"--model-path={checkpoint}", "--model-option",
                             "device_map=auto", "--samples", "4", "--journal", "none", "-p", "no:cacheprovider")
    text = run.stdout.str() + run.stderr.str()
    assert ('llava-med: device_map=auto needs the package accelerate, which is not installed here; install it '
            'with `pip install "medrobust[gpu]"`') in text
    assert "Traceback" not in text and "passed" not in run.stdout.str()


def test_an_unknown_model_option_stops_the_run_before_anything_loads(checkpoint, pytester, monkeypatch) -> None:
    for variable in ("CI", "BUILD_NUMBER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(LlavaMed, "load_model", lambda self, dtype: pytest.fail("weights loaded"))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_spec=SPEC)
    run = pytester.runpytest("--model", "llava-med", f"--model-path={checkpoint}", "--model-option",
                             "device-map=auto", "--journal", "none", "-p", "no:cacheprovider")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert run.stderr.lines[0].startswith("ERROR: --model-option device-map: model 'llava-med' has no such option; "
                                          "it takes attn_implementation, batch_size, device_map, do_sample, dtype, ")


def test_the_factories_declare_every_option_their_models_take() -> None:
    assert set(llava_med_model.OPTIONS) == set(LlavaMed.DEFAULTS)
    assert set(hf_vlm_model.OPTIONS) == set(HFVLM.DEFAULTS)


# -- 8-bit and 4-bit weights -------------------------------------------------------------------------
@pytest.mark.parametrize("load_in, layer", [("8bit", "Linear8bitLt"), ("4bit", "Linear4bit")])
def test_quantized_weights_load_answer_and_are_recorded(tmp_path, samples, monkeypatch, load_in, layer) -> None:
    if not (_loading.installed("bitsandbytes") and _loading.installed("accelerate")):
        pytest.skip('bitsandbytes (and accelerate) are not installed: pip install "medrobust[gpu]"')
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # bitsandbytes' import looks for optional kernels on the Hub
    checkpoint = tiny_llava.save_tiny_llava(tmp_path / "wide", size="tiny-64")  # 4-bit blocks are 64 wide
    model = LlavaMed({"path": str(checkpoint), "load_in": load_in, **OPTIONS})
    q_proj = model.model.model.language_model.layers[0].self_attn.q_proj
    assert type(q_proj).__name__ == layer
    answers = model.answer(samples[:2])
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    quantization = model.describe()["loading"]["quantization"]
    assert quantization["method"] == "bitsandbytes" and quantization["load_in"] == load_in
    assert capabilities_of(model) == Capabilities(feature_hook=True, free_generation=True, token_scoring=True)
    assert model.vision_features([samples[0].image]).shape[0] == 1
