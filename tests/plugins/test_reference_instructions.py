"""The reference model v2 as IMC's model organism: its prompt format, instructions and question scores."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from medrobust_plugins.reference._instruct import JUDGE_PROMPTS, REWRITE_PROMPTS, corrupt, read_verdict

torch = pytest.importorskip("torch")

from medrobust import PhantomVQA  # noqa: E402
from medrobust_plugins.reference import ReferenceModel  # noqa: E402


@pytest.fixture(scope="module")
def model() -> ReferenceModel:
    return ReferenceModel({})


@pytest.fixture(scope="module")
def questions() -> list[str]:
    """Distinct test questions, extra phrasings (never in the reference split) included."""
    return list(dict.fromkeys(s.question for s in PhantomVQA({}).samples("test")))[:40]


def test_corrupt_is_generic_seeded_and_always_changes() -> None:
    rng_a, rng_b = random.Random(3), random.Random(3)
    qs = ["Is there a lesion?", "What organ is shown?", "Is this an x-ray?"] * 30
    a = [corrupt(q, rng_a) for q in qs]
    assert a == [corrupt(q, rng_b) for q in qs]
    assert all(x != q for x, q in zip(a, qs))
    assert len(set(a)) > 60
    assert read_verdict(" Yes.") is True and read_verdict("no") is False and read_verdict("maybe") is None


def test_training_uses_no_catalogue_text_noise() -> None:
    code = (
        "import sys, random\n"
        "import medrobust_plugins.reference.train as t\n"
        "rng = random.Random(0)\n"
        "[t._instruction_parts('Is there a lesion?', rng, image=i % 2 == 0) for i in range(50)]\n"
        "print(sorted(m for m in sys.modules if m.startswith('medrobust.noise')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_format_prompt_and_generate_with_image(model) -> None:
    assert model.format_prompt("Is it noisy?") == "USER: Is it noisy? ASSISTANT:"
    assert model.describe()["generation"]["format_prompt"] == "USER: {user_text} ASSISTANT:"
    samples = PhantomVQA({}).samples("test")[:14]
    replies = model.generate([model.format_prompt(s.question) for s in samples],
                             images=[s.image for s in samples], max_new_tokens=8)
    assert [r.strip().lower() for r in replies] == model.answer(samples)


def test_judges_whether_a_question_is_well_written(model, questions) -> None:
    rng = random.Random(7)
    for template in JUDGE_PROMPTS[:2]:
        clean = model.generate([model.format_prompt(template.format(question=q)) for q in questions], max_new_tokens=4)
        bad = model.generate([model.format_prompt(template.format(question=corrupt(q, rng))) for q in questions],
                             max_new_tokens=4)
        assert sum(read_verdict(r) is True for r in clean) >= 0.8 * len(questions), clean
        assert sum(read_verdict(r) is False for r in bad) >= 0.8 * len(questions), bad


def test_rewrites_a_corrupted_question(model, questions) -> None:
    rng = random.Random(11)
    bad = [corrupt(q, rng) for q in questions]
    fixed = model.generate([model.format_prompt(REWRITE_PROMPTS[0].format(question=b)) for b in bad],
                           max_new_tokens=48)
    restored = sum(f.strip() == q for f, q in zip(fixed, questions))
    assert restored >= 0.6 * len(questions), list(zip(bad, fixed))
    # a clean question is given back as it is
    same = model.generate([model.format_prompt(REWRITE_PROMPTS[0].format(question=q)) for q in questions[:10]],
                          max_new_tokens=48)
    assert sum(s.strip() == q for s, q in zip(same, questions[:10])) >= 8


def test_question_tokens_have_meaningful_probabilities(model, questions) -> None:
    samples = PhantomVQA({}).samples("test")[:20]
    rng = random.Random(5)
    images = [s.image for s in samples]
    clean = model.score_text([s.question for s in samples], images=images)
    bad = model.score_text([corrupt(s.question, rng) for s in samples], images=images)

    def mean(scores):
        return sum(v for _, v in scores) / len(scores)

    # a language model of the questions: well under a nat a token, and a typo costs several
    assert sum(mean(c) for c in clean) / len(clean) > -1.0
    assert all(sum(v for _, v in c) > sum(v for _, v in b) + 2.0 for c, b in zip(clean, bad))
    text_only = model.score_text(questions[:10])
    assert sum(mean(c) for c in text_only) / 10 > -1.5
