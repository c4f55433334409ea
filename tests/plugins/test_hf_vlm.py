"""The ``hf-vlm`` plugin on tiny random-weight checkpoints of each family, built offline by ``tiny_vlms``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

import medrobust  # noqa: E402
from medrobust import MissingCapability, PhantomVQA  # noqa: E402
from medrobust_plugins.hf import families  # noqa: E402
from medrobust_plugins.hf._base import CheckpointError  # noqa: E402
from medrobust_plugins.hf.hf_vlm import HFVLM  # noqa: E402
from medrobust_plugins.imc import PDC  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import tiny_vlms  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FAMILIES = sorted(tiny_vlms.FAMILIES)
QWEN_PROMPT = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
               "<|vision_start|><|image_pad|><|vision_end|>{question}<|im_end|>\n<|im_start|>assistant\n")
PROMPTS = {  # each tiny checkpoint's own chat template, rendered by the processor
    "qwen2_vl": QWEN_PROMPT,
    "qwen2_5_vl": QWEN_PROMPT,
    "llava_next": "[INST] <image>\n{question} [/INST]",
    "gemma3": "<bos><start_of_turn>user\n<start_of_image>{question}<end_of_turn>\n<start_of_turn>model\n",
    "idefics3": "<|begin_of_text|>User:<image>{question}<end_of_utterance>\nAssistant:",
}
FEATURES = {  # [tokens, dim] the hook sees for a 64x64 phantom image
    "qwen2_vl": (64, 32),  # 8x8 patches of 8 pixels, before the 2x2 merge
    "qwen2_5_vl": (64, 32),
    "llava_next": (80, 32),  # base view + 2x2 anyres crops, 4x4 patches each
    "gemma3": (64, 32),  # resized to 32, 8x8 patches of 4 pixels
    "idefics3": (80, 32),  # 2x2 crops + the global view, 4x4 patches each
}
OPTIONS = {"batch_size": 8, "max_new_tokens": 6}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vlms")
    return {f: tiny_vlms.save_tiny_vlm(root / f, f) for f in FAMILIES}


@pytest.fixture(scope="module")
def models(checkpoints) -> dict[str, HFVLM]:
    return {f: HFVLM({"path": str(p), **OPTIONS}) for f, p in checkpoints.items()}


@pytest.fixture(scope="module")
def samples():
    return PhantomVQA({}).samples("test")[:5]


# -- loading, family, prompt ---------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_loads_with_every_capability(models, family) -> None:
    model = models[family]
    assert type(model) is HFVLM and model.family.model_type == family
    assert medrobust.capabilities_of(model) == medrobust.Capabilities(feature_hook=True, free_generation=True,
                                                                      token_scoring=True)
    assert model.tokenizer.padding_side == "left" and model.dtype == torch.float32
    assert sum(p.numel() for p in model.model.parameters()) < 1_000_000


@pytest.mark.parametrize("family", FAMILIES)
def test_the_processors_chat_template_makes_the_prompt(models, family) -> None:
    model = models[family]
    assert model.prompt_template() == PROMPTS[family]
    assert model.build_prompt("is it?") == PROMPTS[family].replace("{question}", "is it?")
    ids = model.encode([model.build_prompt("is it?")], [model.prepare_image(Image.new("L", (64, 64)))])["input_ids"]
    assert model.tokenizer.decode(ids[0]).count(model.tokenizer.bos_token or "\0") <= 1  # never a doubled BOS


def test_a_changed_chat_template_changes_the_prompt_and_the_description(checkpoints, models, tmp_path) -> None:
    import shutil

    path = Path(shutil.copytree(checkpoints["gemma3"], tmp_path / "g3"))
    template = path / "chat_template.jinja"
    template.write_text(template.read_text().replace("<start_of_turn>model", "<start_of_turn>radiologist"))
    model = HFVLM({"path": str(path), "question": "{question} Answer in one word.", **OPTIONS})
    assert model.prompt_template().endswith("{question} Answer in one word.<end_of_turn>\n"
                                            "<start_of_turn>radiologist\n")
    ident, before = model.describe(), models["gemma3"].describe()
    assert ident["processor_sha256"]["chat_template.jinja"] != before["processor_sha256"]["chat_template.jinja"]
    assert ident["weights_sha256"] == before["weights_sha256"]
    assert ident["question_template"] == "{question} Answer in one word."


@pytest.mark.parametrize("family", FAMILIES)
def test_description_digests_family_and_feature_hook(models, checkpoints, family) -> None:
    ident = models[family].describe()
    path = checkpoints[family]
    sha = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in path.iterdir()}
    assert ident["weights_sha256"] == {"model.safetensors": sha["model.safetensors"]}
    assert ident["config_sha256"] == sha["config.json"]
    for name in ("tokenizer.json", "chat_template.jinja", "processor_config.json"):
        assert ident["processor_sha256"][name] == sha[name]
    assert ident["family"] == family and ident["architecture"] == json.loads(
        (path / "config.json").read_text())["architectures"][0]
    assert ident["feature_hook"]["available"] is True
    assert ident["feature_hook"]["module"] == families.FAMILIES[family].hook_module
    assert ident["generation"]["decoding"] == "greedy" and ident["generation"]["max_new_tokens"] == 6
    assert str(path) not in json.dumps(ident)  # local paths stay out of the certificate digest


def test_qwen_processors_load_image_only_without_torchvision(models, checkpoints, tmp_path) -> None:
    import shutil

    # released Qwen checkpoints also carry a video processor config; without torchvision it cannot load
    path = Path(shutil.copytree(checkpoints["qwen2_vl"], tmp_path / "qwen"))
    (path / "video_preprocessor_config.json").write_text(json.dumps({
        "video_processor_type": "Qwen2VLVideoProcessor", "processor_class": "Qwen2VLProcessor", "patch_size": 8,
        "merge_size": 2, "temporal_patch_size": 2}))
    with_video = HFVLM({"path": str(path), **OPTIONS})
    try:
        import torchvision  # noqa: F401
    except Exception:
        for model in (models["qwen2_vl"], models["qwen2_5_vl"], with_video):
            assert "image-only" in model.processor_note and "torchvision" in model.processor_note
            assert not hasattr(model.processor, "video_processor")
        assert with_video.describe()["processor"].startswith("Qwen2VLProcessor (image-only")
    else:
        assert models["qwen2_vl"].processor_note == "AutoProcessor"
    assert models["gemma3"].processor_note == "AutoProcessor"
    assert len(with_video.answer(PhantomVQA({}).samples("test")[:2])) == 2


# -- answers --------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_batched_answers_and_scores_equal_unbatched(models, samples, family) -> None:
    model = models[family]
    batched = model.answer(samples)
    assert len(batched) == len(samples) and all(isinstance(a, str) for a in batched)
    assert batched == [model.answer([s])[0] for s in samples]
    questions, images = [s.question for s in samples], [s.image for s in samples]
    together = model.score_text(questions, images)
    for k in (0, 3):
        alone = model.score_text([questions[k]], [images[k]])[0]
        assert [t for t, _ in alone] == [t for t, _ in together[k]]
        assert "".join(t for t, _ in alone) == questions[k]
        assert torch.allclose(torch.tensor([v for _, v in alone]), torch.tensor([v for _, v in together[k]]),
                              atol=1e-4)


@pytest.mark.parametrize("family", ["qwen2_vl", "idefics3"])
def test_answers_depend_on_the_image(models, samples, family) -> None:
    model = models[family]
    blank = [s.replace(image=Image.new("L", s.image.size, 0)) for s in samples]
    scored = model.score_text([s.question for s in samples], [s.image for s in samples])
    scored_blank = model.score_text([s.question for s in blank], [s.image for s in blank])
    assert any(abs(a[1] - b[1]) > 1e-3 for x, y in zip(scored, scored_blank) for a, b in zip(x, y))


# -- feature hook ---------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_vision_features_shape_and_batch_independence(models, samples, family) -> None:
    model = models[family]
    images = [s.image for s in samples]
    feats = model.vision_features(images)
    assert tuple(feats.shape) == (len(images), *FEATURES[family]) and feats.dtype == torch.float32
    assert torch.allclose(model.vision_features(images[2:3])[0], feats[2], atol=1e-5)
    assert not torch.equal(feats[0], feats[1])


@pytest.mark.parametrize("family", FAMILIES)
def test_feature_transform_reaches_the_language_model(models, samples, family) -> None:
    model = models[family]
    questions, images = [s.question for s in samples[:3]], [s.image for s in samples[:3]]
    plain = model.score_text(questions, images)
    seen: list[tuple] = []

    def identity(features, imgs):
        seen.append((tuple(features.shape), len(imgs)))
        return features.clone()

    try:
        model.set_feature_transform(identity)
        same = model.score_text(questions, images)
        model.answer(samples[:3])
        model.set_feature_transform(lambda features, imgs: torch.zeros_like(features))
        zeroed = model.score_text(questions, images)
        untouched = model.vision_features(images)  # vision_features never applies the transform
    finally:
        model.set_feature_transform(None)
    assert seen == [((3, *FEATURES[family]), 3)] * 2  # one call per batch: scoring, then answering
    assert [v for s in same for _, v in s] == pytest.approx([v for s in plain for _, v in s], abs=1e-5)
    assert any(abs(a[1] - b[1]) > 1e-3 for x, y in zip(zeroed, plain) for a, b in zip(x, y))
    assert torch.allclose(untouched, model.vision_features(images))
    assert model.score_text(questions, images) == plain  # removed again


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
def test_qwen_features_come_in_raster_order(checkpoints, family) -> None:
    """With the vision blocks removed the hook sees the patch embedding, linear in each patch's pixels."""
    model = HFVLM({"path": str(checkpoints[family]), **OPTIONS})
    model.model.model.visual.blocks = torch.nn.ModuleList()
    levels = torch.randperm(64, generator=torch.Generator().manual_seed(0)).float() * 3 + 20  # one per patch
    pixels = levels.reshape(8, 8).repeat_interleave(8, 0).repeat_interleave(8, 1)
    feats = model.vision_features([Image.fromarray(pixels.numpy().astype("uint8"))])[0]
    # each feature channel is an affine function of the patch level only if the tokens are in raster order
    centred = feats - feats.mean(0)
    x = levels - levels.mean()
    corr = (centred * x[:, None]).sum(0) / (centred.norm(dim=0) * x.norm() + 1e-12)
    assert corr.abs().max() > 0.999


def test_images_of_different_sizes_need_one_size_for_the_hook(checkpoints, models) -> None:
    images = [Image.new("L", (64, 64), 90), Image.new("L", (96, 64), 90)]  # 96x64 is scaled to 64x48
    with pytest.raises(ValueError, match=r"different numbers of vision tokens \(48, 64\).*image_size=N"):
        models["qwen2_vl"].vision_features(images)
    resized = HFVLM({"path": str(checkpoints["qwen2_vl"]), "image_size": 64, **OPTIONS})
    assert tuple(resized.vision_features(images).shape) == (2, 64, 32)
    assert resized.describe()["image_size"] == 64


def test_a_family_without_a_hook_point_reports_why(checkpoints, samples, monkeypatch) -> None:
    reason = "its vision features enter through cross-attention, not a projector input"
    monkeypatch.setitem(families.FAMILIES, "gemma3", dataclasses.replace(
        families.FAMILIES["gemma3"], hook_module=None, hook_unavailable=reason))
    model = HFVLM({"path": str(checkpoints["gemma3"]), **OPTIONS})
    assert type(model) is HFVLM  # one class: the family decides what it declares
    assert medrobust.capabilities_of(model) == medrobust.Capabilities(
        feature_hook=False, free_generation=True, token_scoring=True, reasons={"feature_hook": reason})
    assert model.describe()["feature_hook"] == {"available": False, "reason": reason}
    assert len(model.answer(samples[:2])) == 2
    with pytest.raises(MissingCapability, match=rf"model hf-vlm \(gemma3\) does not offer it \({reason}\), so PDC "
                                                r"cannot run; SMS can"):
        PDC().fit(model, samples, noises=medrobust.load_plugins().noises)
    with pytest.raises(MissingCapability, match=rf"hf-vlm: no feature hook: {reason}"):
        model.vision_features([s.image for s in samples[:1]])
    with pytest.raises(MissingCapability, match="no feature hook"):
        model.set_feature_transform(lambda f, images: f)


# -- refusing what it cannot load, answering only what it does not know ----------------------------------
@pytest.mark.parametrize("model_type, hint", [
    ("bert", "AutoModelForImageTextToText has no class for model_type 'bert'"),
    ("llava_mistral", "convert it to the llava-hf format"),
])
def test_model_types_transformers_cannot_load_list_the_supported_ones(tmp_path, model_type, hint) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type, "architectures": ["X"]}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    registry = medrobust.load_plugins().models
    assert registry.provider("hf-vlm") == "hf"
    factory = registry["hf-vlm"]
    with pytest.raises(CheckpointError) as info:
        factory({"path": str(tmp_path)})
    message = str(info.value)
    assert f"model_type {model_type!r} (architectures: X) in {tmp_path} is not supported" in message
    assert "supported model types: gemma3, idefics3, llava_next, qwen2_5_vl, qwen2_vl." in message
    assert "The answering-only fallback does not apply either" in message and hint in message


def test_remote_code_models_need_trust_remote_code_for_the_fallback(tmp_path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "my_vlm", "auto_map": {"AutoModelForImageTextToText": "modeling_my.MyVLM"}}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="maps AutoModelForImageTextToText to the checkpoint's own code; add "
                                              "--model-option trust_remote_code=true if you trust that code"):
        HFVLM({"path": str(tmp_path)})


@pytest.fixture(scope="module")
def llava_with_chat_template(tmp_path_factory) -> Path:
    import tiny_llava

    return tiny_llava.save_tiny_llava(tmp_path_factory.mktemp("llava") / "chat", chat_template=True)


def test_another_model_type_falls_back_to_answering_only(llava_with_chat_template, samples) -> None:
    """model_type 'llava' is none of hf-vlm's families: AutoModelForImageTextToText and the chat template
    answer it exactly as llava-med with the same template does; every capability is absent, with why."""
    from medrobust_plugins.hf.llava_med import LlavaMed

    path = str(llava_with_chat_template)
    model = HFVLM({"path": path, **OPTIONS})
    assert type(model.model).__name__ == "LlavaForConditionalGeneration" and model.family.generic
    caps = medrobust.capabilities_of(model)
    assert (caps.feature_hook, caps.free_generation, caps.token_scoring) == (False, False, False)
    assert "outside the families hf-vlm knows" in caps.reasons["feature_hook"]
    assert "--model llava-med loads LLaVA checkpoints with the feature hook" in caps.reasons["feature_hook"]
    assert "generic fallback" in caps.reasons["free_generation"] and "answers only" in caps.reasons["token_scoring"]
    same = LlavaMed({"path": path, "template": "chat", "image_aspect_ratio": "processor", **OPTIONS})
    assert model.prompt_template() == same.prompt_template() == "[INST] <image>\n{question} [/INST]"
    assert model.answer(samples) == same.answer(samples)
    ident = model.describe()
    assert ident["generic_fallback"] is True and ident["family"] == "llava"
    assert ident["feature_hook"]["available"] is False
    for call in (lambda: model.generate(["Findings:"]), lambda: model.score_text(["hi"]),
                 lambda: model.format_prompt("hi")):
        with pytest.raises(MissingCapability, match=r"hf-vlm: \w+\(\) is not offered: model_type 'llava' runs "
                                                    "through hf-vlm's generic fallback"):
            call()
    with pytest.raises(MissingCapability, match="no feature hook"):
        model.vision_features([samples[0].image])


def test_the_fallback_needs_a_chat_template(tmp_path, monkeypatch) -> None:
    import tiny_llava

    path = tiny_llava.save_tiny_llava(tmp_path / "plain")  # no chat template
    monkeypatch.setattr(HFVLM, "load_model", lambda self, dtype: pytest.fail("weights loaded"))
    with pytest.raises(CheckpointError, match=r"hf-vlm: the processor in .* has no chat template .*hf-vlm builds "
                                              "every prompt with it"):
        HFVLM({"path": str(path)})


def test_bad_options_fail_clearly(checkpoints) -> None:
    path = str(checkpoints["gemma3"])
    with pytest.raises(medrobust.OptionError, match="option question must hold {question}"):
        HFVLM({"path": path, "question": "Answer briefly."})
    with pytest.raises(medrobust.OptionError, match=r"hf-vlm: unknown option\(s\) image_sise"):
        HFVLM({"path": path, "image_sise": 64})


# -- end to end -----------------------------------------------------------------------------------
PDC_SMALL = ["--calibrator-option", "pdc.max_reference=16", "--calibrator-option", "pdc.noises=gaussian_noise,jpeg"]


@pytest.mark.parametrize("family, selection, n_specs", [
    ("qwen2_vl", [], 15),  # every spec of suites/, IMC with its default options
    ("gemma3", ["-k", "gaussian_noise or keyboard_typos", *PDC_SMALL], 2),  # a slice, a smaller PDC fit
])
def test_suites_run_end_to_end_with_imc(checkpoints, models, family, selection, n_specs, pytester) -> None:
    """``pytest suites/ --model hf-vlm --model-path TINY --calibrator imc --samples 16``.

    In process (pytester), so the run does not pay for importing torch and transformers again.
    """
    tmp_path = pytester.path
    run = pytester.runpytest_inprocess(
        str(REPO / "suites"), *selection,
        "--model", "hf-vlm", "--model-path", str(checkpoints[family]), "--model-option", "max_new_tokens=4",
        "--calibrator", "imc", "--samples", "16",
        "--certificate", str(tmp_path / "cert"), "--journal", "none", "-p", "no:cacheprovider", "-q")
    assert run.ret in (0, 1), "\n".join(run.outlines[-40:])  # 1: random weights fail specs
    cert = json.loads((tmp_path / "cert.json").read_text())
    ident = cert["model"]
    assert ident["name"] == "hf-vlm" and ident["family"] == family
    assert ident["class"] == "medrobust_plugins.hf.hf_vlm.HFVLM"
    assert ident["capabilities"]["available"] == {"feature_hook": True, "free_generation": True,
                                                  "token_scoring": True}
    assert ident["weights_sha256"] == models[family].describe()["weights_sha256"]
    assert ident["feature_hook"]["module"] == families.FAMILIES[family].hook_module
    assert cert["calibrator"]["name"] == "imc"
    assert cert["calibrator"]["params"]["pdc"]["fitted_on"] == (16 if PDC_SMALL[1] in selection else 96)
    assert cert["summary"]["error"] == 0, [s.get("message") for s in cert["specs"] if s["outcome"] == "error"]
    assert not cert["sample_errors"]
    checks = [c for s in cert["specs"] for c in s["checks"]]
    assert len(cert["specs"]) == n_specs and checks and all("uncalibrated" in c for c in checks)


@pytest.mark.parametrize("family", FAMILIES)
def test_format_prompt_is_one_user_turn_of_the_chat_template(checkpoints, models, family) -> None:
    model = models[family]
    rendered = model.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "text", "text": "Is it noisy?"}]}], add_generation_prompt=True,
        tokenize=False)
    assert model.format_prompt("Is it noisy?") == rendered
    assert model.format_prompt("Is it noisy?") == model.build_prompt("Is it noisy?", with_image=False)
    worded = HFVLM({"path": str(checkpoints[family]), "question": "{question} One word.", **OPTIONS})
    assert worded.format_prompt("Is it noisy?") == rendered  # the question option words questions, not prompts


@pytest.mark.parametrize("family", FAMILIES)
def test_generate_puts_the_image_where_the_chat_template_does(models, samples, family) -> None:
    model = models[family]
    turn = model.format_prompt("Is it noisy?")
    assert model._with_image(turn) == model.user_turn("Is it noisy?", with_image=True)
    image = [samples[0].image]
    assert model.generate([turn], image, max_new_tokens=3) == model.generate(
        [model.user_turn("Is it noisy?", with_image=True)], image, max_new_tokens=3)


@pytest.mark.parametrize("family", FAMILIES)
def test_free_generation_with_and_without_images(models, samples, family) -> None:
    model = models[family]
    with_images = model.generate(["Describe the image.", "Findings:"], [s.image for s in samples[:2]],
                                 max_new_tokens=3)
    text_only = model.generate(["The lesion is"], max_new_tokens=3)
    assert len(with_images) == 2 and len(text_only) == 1
    assert all(isinstance(t, str) for t in with_images + text_only)
    with pytest.raises(ValueError, match="2 prompts but 1 images"):
        model.generate(["a", "b"], [samples[0].image])


@pytest.mark.parametrize("family", ["qwen2_vl", "gemma3"])
def test_sampled_answers_do_not_depend_on_the_batch(checkpoints, samples, family) -> None:
    model = HFVLM({"path": str(checkpoints[family]), **OPTIONS, "do_sample": "true", "temperature": "5.0"})
    batch = model.answer(samples)
    assert [model.answer([s])[0] for s in samples] == batch
    assert model.answer(samples[::-1]) == batch[::-1]
    text_only = model.generate(["The lesion is", "Findings:"], max_new_tokens=4)
    assert model.generate(["Findings:"], max_new_tokens=4) == text_only[1:]
