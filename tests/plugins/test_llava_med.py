"""The ``llava-med`` plugin on tiny random-weight LLaVA checkpoints built offline by ``tiny_llava``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

import medrobust  # noqa: E402
from medrobust import PhantomVQA  # noqa: E402
from medrobust_plugins.hf._base import CheckpointError  # noqa: E402
from medrobust_plugins.hf.llava_med import LlavaMed  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import tiny_llava  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_llava.save_tiny_llava(tmp_path_factory.mktemp("llava") / "tiny")


@pytest.fixture(scope="module")
def model(checkpoint) -> LlavaMed:
    return LlavaMed({"path": str(checkpoint), "device": "cpu", "batch_size": 4, "max_new_tokens": 6})


@pytest.fixture(scope="module")
def samples():
    return PhantomVQA({}).samples("test")[:6]


@pytest.fixture(scope="module")
def answers(model, samples) -> list[str]:
    return model.answer(samples)


def _copy(checkpoint: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(checkpoint, tmp_path / "copy"))


# -- loading and options --------------------------------------------------------------------------
def test_loads_the_tiny_checkpoint_with_every_capability(model, checkpoint) -> None:
    assert medrobust.capabilities_of(model) == medrobust.Capabilities(feature_hook=True, free_generation=True,
                                                                      token_scoring=True)
    assert type(model.model).__name__ == "LlavaForConditionalGeneration"
    assert model.dtype == torch.float32 and str(model.device) == "cpu"
    assert model.tokenizer.padding_side == "left"
    assert sum(p.numel() for p in model.model.parameters()) < 1_000_000


def test_registration_is_lazy_and_names_the_plugin() -> None:
    code = ("import sys; import medrobust_plugins.hf; print('torch' in sys.modules); "
            "import medrobust; h = medrobust.load_plugins(); "
            "print('llava-med' in h.models, h.models.provider('llava-med'), 'transformers' in sys.modules, "
            "'medrobust_plugins.hf.llava_med' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "hf", "False", "False"]


def test_unknown_and_malformed_options_fail_naming_what_is_known(checkpoint) -> None:
    with pytest.raises(medrobust.OptionError, match=r"llava-med: unknown option\(s\) temprature; known: .*temperature"):
        LlavaMed({"path": str(checkpoint), "temprature": "0.5"})
    with pytest.raises(medrobust.OptionError, match="option dtype must be one of auto, float32, bfloat16, float16"):
        LlavaMed({"path": str(checkpoint), "dtype": "int8"})
    with pytest.raises(medrobust.OptionError, match="option batch_size='many' is not a int"):
        LlavaMed({"path": str(checkpoint), "batch_size": "many"})
    with pytest.raises(medrobust.OptionError, match="template must be one of mistral, vicuna, llava-hf, chat"):
        LlavaMed({"path": str(checkpoint), "template": "alpaca"})
    with pytest.raises(medrobust.OptionError, match="asked for CUDA but torch sees no CUDA device"):
        if torch.cuda.is_available():
            pytest.skip("a CUDA device is present")
        LlavaMed({"path": str(checkpoint), "device": "cuda"})


def test_missing_path_and_directory_errors(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="pass --model-path DIR"):
        LlavaMed({"path": None})
    with pytest.raises(CheckpointError, match="is not a directory"):
        LlavaMed({"path": str(tmp_path / "absent")})
    with pytest.raises(CheckpointError, match="no config.json"):
        LlavaMed({"path": str(tmp_path)})


def test_original_llava_med_format_is_refused_with_the_conversion(tmp_path) -> None:
    path = tiny_llava.save_original_format(tmp_path / "orig")
    with pytest.raises(CheckpointError) as info:
        LlavaMed({"path": str(path)})
    message = str(info.value)
    assert "original LLaVA-Med repository format" in message
    assert "LlavaMistralForCausalLM" in message
    assert "convert_llava_weights_to_hf.py" in message
    assert "Only safetensors weights load" in message


def test_bin_only_weights_are_refused(tmp_path) -> None:
    path = tiny_llava.save_bin_only(tmp_path / "bin")
    with pytest.raises(CheckpointError, match=r"only pickled weights \(pytorch_model.bin\); only safetensors load"):
        LlavaMed({"path": str(path)})


def test_other_architectures_are_sent_to_hf_vlm(checkpoint, tmp_path) -> None:
    path = _copy(checkpoint, tmp_path)
    config = json.loads((path / "config.json").read_text())
    config["model_type"] = "qwen2_vl"
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="'qwen2_vl' model .* use --model hf-vlm"):
        LlavaMed({"path": str(path)})


@pytest.mark.parametrize("model_type", ["llava_next", "llava_onevision", "llava_next_video"])
def test_llava_hf_relatives_are_sent_to_hf_vlm_not_to_conversion(checkpoint, tmp_path, model_type) -> None:
    path = _copy(checkpoint, tmp_path)
    config = json.loads((path / "config.json").read_text())
    config.update(model_type=model_type, architectures=["LlavaNextForConditionalGeneration"])
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=f"'{model_type}' model .* use --model hf-vlm") as info:
        LlavaMed({"path": str(path)})
    assert "original LLaVA-Med" not in str(info.value)


@pytest.mark.parametrize("model_type", ["llava_llama", "llava_mpt"])
def test_original_model_types_alone_are_refused_with_the_conversion(tmp_path, model_type) -> None:
    path = tiny_llava.save_original_format(tmp_path / "orig")
    (path / "config.json").write_text(json.dumps({"model_type": model_type, "hidden_size": 32}))
    with pytest.raises(CheckpointError, match="original LLaVA-Med repository format"):
        LlavaMed({"path": str(path)})


def test_remote_code_stays_off_unless_asked(model, checkpoint) -> None:
    assert model.load_kwargs() == {"local_files_only": True, "trust_remote_code": False}
    assert model.weight_kwargs(torch.float32) == {"use_safetensors": True, "dtype": torch.float32}
    assert model.describe()["trust_remote_code"] is False


def test_bfloat16_option_loads_and_answers(checkpoint, samples) -> None:
    m = LlavaMed({"path": str(checkpoint), "dtype": "bfloat16", "max_new_tokens": 3})
    assert next(m.model.parameters()).dtype == torch.bfloat16
    assert m.describe()["dtype"] == "bfloat16"
    assert len(m.answer(samples[:2])) == 2
    assert m.vision_features([samples[0].image]).dtype == torch.float32


# -- answering ----------------------------------------------------------------------------------
def test_prompt_is_llava_med_mistral_template(model) -> None:
    assert model.build_prompt("Is it?") == "[INST] <image>\nIs it? [/INST]"
    assert model.build_prompt("Is it {x}?", with_image=False) == "[INST] Is it {x}? [/INST]"
    assert model.describe()["prompt_template"] == "[INST] <image>\n{question} [/INST]"


@pytest.mark.parametrize("template, expected", [
    ("mistral", "[INST] Is it noisy? [/INST]"),
    ("vicuna", "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
               "detailed, and polite answers to the human's questions. USER: Is it noisy? ASSISTANT:"),
    ("llava-hf", "USER: Is it noisy? ASSISTANT:"),
    ("Q: <image> {question} A:", "Q: Is it noisy? A:"),
])
def test_format_prompt_wraps_one_user_turn_in_the_template(checkpoint, model, template, expected) -> None:
    m = model if template == "mistral" else LlavaMed({"path": str(checkpoint), "template": template})
    assert m.format_prompt("Is it noisy?") == expected
    assert m.capabilities().free_generation


def test_format_prompt_with_the_chat_template_is_the_processors(tmp_path) -> None:
    chat = tiny_llava.save_tiny_llava(tmp_path / "chat", chat_template=True)
    m = LlavaMed({"path": str(chat), "template": "chat"})
    rendered = m.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "text", "text": "Is it {x}?"}]}], add_generation_prompt=True,
        tokenize=False)
    assert m.format_prompt("Is it {x}?") == rendered == "[INST] Is it {x}? [/INST]"


def test_template_options(checkpoint, tmp_path, monkeypatch) -> None:
    m = LlavaMed({"path": str(checkpoint), "template": "Q: <image> {question} A:"})
    assert m.build_prompt("why") == "Q: <image> why A:"
    assert m.describe()["template"] == "custom"
    with monkeypatch.context() as patch:  # refused before the (possibly 14 GB of) weights load
        patch.setattr(LlavaMed, "load_model", lambda self, dtype: pytest.fail("weights loaded"))
        with pytest.raises(CheckpointError, match="template=chat but the processor .* has no chat template"):
            LlavaMed({"path": str(checkpoint), "template": "chat"})
    chat = tiny_llava.save_tiny_llava(tmp_path / "chat", chat_template=True)
    m = LlavaMed({"path": str(chat), "template": "chat"})
    assert m.prompt_template() == "[INST] <image>\n{question} [/INST]"


def test_gray_64px_phantoms_become_rgb_square_inputs(model, samples) -> None:
    assert samples[0].image.mode == "L" and samples[0].image.size == (64, 64)
    enc = model.encode(["[INST] <image>\nx [/INST]"], [model.prepare_image(samples[0].image)])
    assert tuple(enc["pixel_values"].shape) == (1, 3, tiny_llava.IMAGE_SIZE, tiny_llava.IMAGE_SIZE)
    as_tensor = model.prepare_image(torch.full((1, 64, 64), 0.5))
    assert as_tensor.mode == "RGB" and as_tensor.size == (64, 64) and as_tensor.getpixel((3, 3)) == (128, 128, 128)
    wide = model.prepare_image(Image.new("L", (40, 20), 200))
    assert wide.mode == "RGB" and wide.size == (40, 40)
    assert wide.getpixel((0, 0)) != wide.getpixel((20, 20))  # padded with the mean colour, image kept


def test_pad_colour_is_llavas_truncated_clip_mean(model) -> None:
    # LLaVA's expand2square pads with tuple(int(x * 255) for x in image_mean), truncating, not rounding
    assert list(model.processor.image_processor.image_mean) == pytest.approx([0.48145466, 0.4578275, 0.40821073])
    tall = model.prepare_image(Image.new("L", (10, 30), 255))
    assert tall.size == (30, 30) and tall.getpixel((0, 0)) == (122, 116, 104)
    assert tall.getpixel((15, 15)) == (255, 255, 255)


def test_batches_are_left_padded(model) -> None:
    prompts = [model.build_prompt("Is there a lesion in the left lung?"), model.build_prompt("ct?")]
    image = model.prepare_image(Image.new("L", (64, 64), 90))
    enc = model.encode(prompts, [image, image])
    mask = enc["attention_mask"]
    assert mask[:, -1].tolist() == [1, 1]
    assert mask[0].all() and mask[1, 0] == 0
    assert enc["input_ids"][1, 0] == model.tokenizer.pad_token_id
    positions = model.forward_kwargs({"attention_mask": torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])})
    assert positions["position_ids"].tolist() == [[0, 0, 0, 1], [0, 1, 2, 3]]


def test_batched_answers_equal_unbatched(model, samples, answers) -> None:
    assert len(answers) == len(samples) and all(isinstance(a, str) for a in answers)
    assert [model.answer([s])[0] for s in samples] == answers
    assert model.answer(samples) == answers  # deterministic
    assert len(set(answers)) > 1  # the answers depend on the input


def test_greedy_generation_is_recorded(model) -> None:
    gen = model.describe()["generation"]
    assert gen["decoding"] == "greedy" and gen["do_sample"] is False and gen["num_beams"] == 1
    assert gen["max_new_tokens"] == 6 and gen["padding_side"] == "left" and gen["batch_size"] == 4
    assert gen["temperature"] is None and gen["seed"] is None


# -- feature hook -------------------------------------------------------------------------------
def test_sampled_answers_depend_on_the_seed_and_the_sample_only(checkpoint, samples) -> None:
    options = {"path": str(checkpoint), "batch_size": 4, "max_new_tokens": 6, "do_sample": "true",
               "temperature": "5.0"}
    m = LlavaMed(options)
    before = torch.get_rng_state()
    batch = m.answer(samples)
    assert torch.equal(torch.get_rng_state(), before)  # torch's global RNG is left alone
    assert [m.answer([s])[0] for s in samples] == batch  # alone
    assert m.answer(samples[::-1]) == batch[::-1]  # elsewhere in the batch
    assert m.answer(samples[3:]) == batch[3:]  # what a resumed run still has to ask
    assert m.answer(samples) == batch
    assert len(set(batch)) > 1 and LlavaMed({**options, "seed": 1}).answer(samples) != batch
    prompts = ["[INST] <image>\nwhat is it? [/INST]"] * 2
    images = [samples[0].image, samples[1].image]
    both = m.generate(prompts, images, max_new_tokens=6)
    assert m.generate(prompts[1:], images[1:], max_new_tokens=6) == both[1:]
    gen = m.describe()["generation"]
    assert gen["decoding"] == "sample" and gen["seed"] == 0 and "sha256(seed, prompt, image" in gen["sample_seeding"]


def test_vision_features_are_the_projector_input(model, samples) -> None:
    feats = model.vision_features([s.image for s in samples[:5]])
    assert tuple(feats.shape) == (5, tiny_llava.IMAGE_TOKENS, 32)
    assert feats.dtype == torch.float32 and feats.device.type == "cpu"
    one = model.vision_features([samples[1].image])
    assert torch.allclose(one[0], feats[1], atol=1e-5)


def test_feature_transform_changes_answers_and_logits_and_removal_restores(model, samples, answers) -> None:
    questions, images = [s.question for s in samples[:3]], [s.image for s in samples[:3]]
    before = model.score_text(questions, images=images)
    seen = []

    def zero(features, imgs):
        seen.append((tuple(features.shape), features.dtype, features.device.type, [im.mode for im in imgs]))
        return features * 0

    model.set_feature_transform(zero)
    try:
        changed = model.answer(samples)
        scored = model.score_text(questions, images=images)
    finally:
        model.set_feature_transform(None)
    assert changed != answers
    assert [lp for _, lp in scored[0]] != pytest.approx([lp for _, lp in before[0]])
    assert seen[0] == ((4, tiny_llava.IMAGE_TOKENS, 32), torch.float32, "cpu", ["L"] * 4)  # the caller's images
    assert model.answer(samples) == answers
    assert model.score_text(questions, images=images) == before


def test_vision_features_ignore_an_installed_transform(model, samples) -> None:
    clean = model.vision_features([samples[0].image])
    model.set_feature_transform(lambda f, imgs: f + 1)
    try:
        assert torch.equal(model.vision_features([samples[0].image]), clean)
    finally:
        model.set_feature_transform(None)


# -- free generation and token scoring ------------------------------------------------------------
def test_generate_with_and_without_images(model, samples) -> None:
    text = model.generate(["The finding is", "Rewrite: lesoin"], max_new_tokens=4)
    assert len(text) == 2 and all(isinstance(t, str) for t in text)
    with_image = model.generate(["The finding is"], images=[samples[0].image], max_new_tokens=4)
    assert with_image == model.generate(["<image>\nThe finding is"], images=[samples[0].image], max_new_tokens=4)
    with pytest.raises(ValueError, match="contains <image> but no images"):
        model.generate(["<image> what"])
    with pytest.raises(ValueError, match="2 prompts but 1 images"):
        model.generate(["a", "b"], images=[samples[0].image])


def test_generate_puts_the_image_inside_a_format_prompt_turn(model, samples) -> None:
    prompt = model.format_prompt("what is it?")
    assert model._with_image(prompt) == "[INST] <image>\nwhat is it? [/INST]"
    image = [samples[0].image]
    assert model.generate([prompt], image, max_new_tokens=4) == model.generate(
        ["[INST] <image>\nwhat is it? [/INST]"], image, max_new_tokens=4)


def test_score_text_tokens_join_back_and_do_not_depend_on_the_batch(model, samples) -> None:
    texts = ["Is there a lesion in the left lung?", "hi", "", "ünïcode ✓?"]
    scores = model.score_text(texts)
    assert ["".join(tok for tok, _ in s) for s in scores] == texts
    assert all(lp <= 0 for s in scores for _, lp in s)
    assert scores[2] == []
    alone = [model.score_text([t])[0] for t in texts]
    for a, b in zip(scores, alone):
        assert [lp for _, lp in a] == pytest.approx([lp for _, lp in b], abs=1e-4)
    about = model.score_text(texts[:1], images=[samples[0].image])
    assert [lp for _, lp in about[0]] != pytest.approx([lp for _, lp in scores[0]])
    with pytest.raises(ValueError, match="1 texts but 2 images"):
        model.score_text(texts[:1], images=[samples[0].image] * 2)


# -- description --------------------------------------------------------------------------------
def test_description_digests_follow_the_weights(model, checkpoint, tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    ident = model.describe()
    assert ident["name"] == "llava-med" and ident["architecture"] == "LlavaForConditionalGeneration"
    assert set(ident["weights_sha256"]) == {"model.safetensors"}
    assert {"tokenizer.json", "processor_config.json"} <= set(ident["processor_sha256"])
    assert ident["parameters"] == sum(p.numel() for p in model.model.parameters())
    assert str(checkpoint) not in json.dumps(ident)  # no local path in what the certificate digests

    path = _copy(checkpoint, tmp_path)
    tensors = load_file(path / "model.safetensors")
    name = sorted(tensors)[0]
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] += 1.0
    save_file(tensors, path / "model.safetensors", metadata={"format": "pt"})
    changed = LlavaMed({"path": str(path), "batch_size": 4, "max_new_tokens": 6}).describe()
    assert changed["weights_sha256"] != ident["weights_sha256"]
    assert changed["config_sha256"] == ident["config_sha256"]
    assert changed["processor_sha256"] == ident["processor_sha256"]
    other = LlavaMed({"path": str(checkpoint), "template": "vicuna", "batch_size": 4, "max_new_tokens": 6})
    assert other.describe()["prompt_template"] != ident["prompt_template"]


# -- end to end ---------------------------------------------------------------------------------
def _run_suites(checkpoint: Path, tmp_path: Path, *extra: str) -> dict:
    cert = tmp_path / "cert"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "suites"), "--model", "llava-med", "--model-path",
         str(checkpoint), "--model-option", "max_new_tokens=6", "--samples", "24", "--certificate", str(cert),
         "--journal", "none", "-p", "no:cacheprovider", "-q", *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr[-3000:]  # 1: random weights fail specs
    return json.loads((tmp_path / "cert.json").read_text())


def _checks(data: dict) -> list[dict]:
    return [c for s in data["specs"] for c in s["checks"]]


def test_suites_run_end_to_end_with_imc(checkpoint, model, tmp_path) -> None:
    data = _run_suites(checkpoint, tmp_path, "--calibrator", "imc")
    assert data["model"]["name"] == "llava-med"
    assert data["model"]["class"] == "medrobust_plugins.hf.llava_med.LlavaMed"
    assert data["model"]["weights_sha256"] == model.describe()["weights_sha256"]
    assert data["model"]["capabilities"]["available"]["feature_hook"] is True
    assert data["run"]["plugins"]["models"]["llava-med"] == "hf"
    assert data["calibrator"]["name"] == "imc"
    assert data["summary"]["error"] == 0, [s["message"] for s in data["specs"] if s["outcome"] == "error"]
    assert not data["sample_errors"]
    checks = _checks(data)
    assert checks and all(c["uncalibrated"]["clean"]["n"] == c["clean"]["n"] for c in checks)  # A/B: both arms


def test_suites_run_end_to_end_without_calibrator(checkpoint, tmp_path) -> None:
    data = _run_suites(checkpoint, tmp_path)
    assert data["model"]["name"] == "llava-med" and data["model"]["prompt_template"].startswith("[INST]")
    assert data["summary"]["error"] == 0 and data["summary"]["checks"] > 0
    assert not data["sample_errors"]
    assert all(c["uncalibrated"] is None for c in _checks(data))
