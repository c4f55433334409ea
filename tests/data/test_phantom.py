"""phantom-vqa: deterministic, disjoint, balanced, and true to its pixels."""

from __future__ import annotations

import collections
import time

import numpy as np
import pytest

from medrobust.data.phantom import PhantomVQA
from medrobust.data.phantom._backgrounds import STYLES
from medrobust.data.phantom._questions import ANSWERS, KINDS
from medrobust.data.phantom._render import IMAGE_SIZE, render
from medrobust.data.phantom.dataset import SPLITS, make_sample
from medrobust.sample import Sample, image_digest


@pytest.fixture(scope="module")
def data() -> PhantomVQA:
    return PhantomVQA({"seed": 0, "path": None})


@pytest.fixture(scope="module")
def test_split(data: PhantomVQA) -> list[Sample]:
    return data.samples("test")


def test_same_seed_same_bytes(data: PhantomVQA) -> None:
    again = PhantomVQA({"seed": 0})
    for a, b in zip(data.samples("reference"), again.samples("reference")):
        assert a.id == b.id and a.question == b.question and a.answer == b.answer
        assert a.image.tobytes() == b.image.tobytes()
    assert data.digest("test") == again.digest("test")


def test_other_seed_other_content(data: PhantomVQA) -> None:
    assert PhantomVQA({"seed": 1}).digest("reference") != data.digest("reference")


def test_ids_are_stable_and_ordered(test_split: list[Sample]) -> None:
    assert [s.id for s in test_split] == [f"phantom-vqa/test/{i:05d}" for i in range(len(test_split))]


def test_sizes_and_unknown_split(data: PhantomVQA, test_split: list[Sample]) -> None:
    assert data.splits == ("train", "reference", "test")
    assert len(test_split) == SPLITS["test"][1] >= 300
    assert len(data.samples("reference")) == SPLITS["reference"][1] >= 200
    assert SPLITS["train"][1] >= 10_000
    with pytest.raises(ValueError, match="train, reference, test"):
        data.samples("validation")


def test_splits_are_disjoint(data: PhantomVQA, test_split: list[Sample]) -> None:
    train = [make_sample(0, "train", i)[0] for i in range(700)]
    digests = {name: {image_digest(s.image) for s in samples} for name, samples in (
        ("test", test_split), ("reference", data.samples("reference")), ("train", train))}
    assert not digests["test"] & digests["reference"]
    assert not digests["test"] & digests["train"]
    assert not digests["reference"] & digests["train"]


def test_images_at_model_resolution(test_split: list[Sample]) -> None:
    for s in test_split:
        assert s.image.mode == "L" and s.image.size == (IMAGE_SIZE, IMAGE_SIZE)


def test_generation_is_fast() -> None:
    t = time.perf_counter()
    PhantomVQA({"seed": 5}).samples("test")
    assert time.perf_counter() - t < 3.0


def test_ground_truth_matches_pixels() -> None:
    half = IMAGE_SIZE // 2
    for i in range(0, SPLITS["test"][1], 3):
        sample, scene = make_sample(0, "test", i)
        with_ = np.asarray(sample.image, dtype=np.int16)
        without = np.asarray(render(scene, with_lesions=False), dtype=np.int16)
        diff = np.abs(with_ - without)
        md = sample.metadata
        assert md["lesion_count"] == len(md["lesions"]) == scene.count
        if not md["lesion_present"]:
            assert md["lesion_count"] == 0 and md["lesion_side"] is None
            assert diff.max() == 0
            continue
        left, right = diff[:, :half].sum(), diff[:, half:].sum()
        if md["lesion_side"] == "left":
            assert left > 0 and right == 0
        else:
            assert right > 0 and left == 0
        # each lesion is a bright core: brighter than 200 at its centre
        for x, y, _ in md["lesions"]:
            assert with_[int(y), int(x)] > 200


def test_answers_agree_with_metadata(test_split: list[Sample]) -> None:
    for s in test_split:
        md, kind = s.metadata, s.metadata["question_kind"]
        assert s.answer == s.answer.lower() and s.answer in ANSWERS[kind]
        expected = {
            "presence": "yes" if md["lesion_present"] else "no",
            "side": md["lesion_side"],
            "organ": md["organ"],
            "modality": md["modality"],
            "count": str(md["lesion_count"]),
            "size": md["lesion_size"],
            "modality_yn": "yes" if md.get("asked_modality") == md["modality"] else "no",
        }[kind]
        assert s.answer == expected, s.id
        assert s.answer_type == ("closed" if kind in ("presence", "modality_yn", "side") else "open")


def test_balanced_and_every_style_and_kind(test_split: list[Sample]) -> None:
    kinds = collections.Counter(s.metadata["question_kind"] for s in test_split)
    assert set(kinds) == set(KINDS) and len(set(kinds.values())) == 1
    for kind in KINDS:
        answers = collections.Counter(s.answer for s in test_split
                                      if s.metadata["question_kind"] == kind)
        assert set(answers) == set(ANSWERS[kind])
        assert max(answers.values()) - min(answers.values()) <= 1, (kind, answers)
    styles = collections.Counter(s.metadata["style"] for s in test_split)
    assert set(styles) == set(STYLES)
    assert {s.metadata["modality"] for s in test_split} >= {"x-ray", "ct", "mri"}


def test_describe(data: PhantomVQA) -> None:
    d = data.describe()
    assert d["name"] == "phantom-vqa" and d["sizes"]["test"] == SPLITS["test"][1]
    assert set(d["styles"]) == set(STYLES)
    assert all(v["licence"] and v["source"] for v in d["styles"].values())


def _words(questions) -> set[str]:
    import re

    return {w for q in questions for w in re.findall(r"[a-z0-9-]+", q.lower())}


def test_reference_asks_core_phrasings_only(data: PhantomVQA, test_split: list[Sample]) -> None:
    from medrobust.data.phantom import phantom_questions

    bank = phantom_questions()
    for s in data.samples("reference"):
        assert s.metadata["template"] < len(bank.core_templates[s.metadata["question_kind"]]), s.id
    extra = [s for s in test_split
             if s.metadata["template"] >= len(bank.core_templates[s.metadata["question_kind"]])]
    assert len(extra) >= len(test_split) // 5
    # a lexicon built from reference questions misses words the test questions use
    missing = _words(s.question for s in test_split) - _words(s.question for s in data.samples("reference"))
    assert len(missing) >= 10, missing
    assert {"nodule", "depicted", "technique"} <= missing
    # ... and the extra phrasings are open questions too, not only yes/no ones
    assert {s.answer_type for s in extra} == {"open", "closed"}


def test_chest_radiograph_displayed_as_monochrome1() -> None:
    """RG1_UNCR.dcm is MONOCHROME1: shown the usual way, lungs are dark and the spine bright."""
    from medrobust.data.phantom._backgrounds import background

    a = background("chest_xray")
    lungs = np.r_[a[40:80, 25:45].ravel(), a[40:80, 85:105].ravel()]
    spine = a[20:80, 60:68]
    assert np.median(lungs) + 0.2 < np.median(spine)


def test_brain_mri_is_real_anatomy() -> None:
    """A T1 slice of nibabel's anatomical.nii (embedded), not a geometric phantom."""
    from medrobust.data.phantom._assets import ASSETS
    from medrobust.data.phantom._backgrounds import background

    assert ASSETS["brain_mri"]["file"] == "anatomical.nii"
    assert "nibabel" in STYLES["brain_mri"]["source"] and STYLES["brain_mri"]["licence"] == "MIT"
    a = background("brain_mri")
    # textured tissue everywhere (a phantom is flat ellipses on black)
    assert (a < 0.05).mean() < 0.02 and len(np.unique(np.round(a * 255))) > 150
    # the lateral ventricles: dark, near the midline, in the front half
    assert a[30:64, 56:72].min() < 0.25 * np.median(a)


def test_embedded_brain_mri_matches_nibabel() -> None:
    """The embedded slice is what _make_assets reduces from nibabel's file (when nibabel is here)."""
    nibabel = pytest.importorskip("nibabel")
    import base64
    import hashlib
    import zlib
    from pathlib import Path

    from nibabel.testing import data_path

    from medrobust.data.phantom import _make_assets
    from medrobust.data.phantom._assets import ASSETS

    path = Path(data_path) / "anatomical.nii"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == ASSETS["brain_mri"]["source_sha256"]
    embedded = np.frombuffer(zlib.decompress(base64.b64decode("".join(ASSETS["brain_mri"]["data"]))),
                             dtype=np.uint8).reshape(128, 128)
    assert np.array_equal(_make_assets._reduce("brain_mri", str(path)), embedded)
    assert nibabel.aff2axcodes(nibabel.load(path).affine) == ("L", "A", "S")
