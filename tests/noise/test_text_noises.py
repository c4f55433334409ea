"""The clinical text noises: each one's defining behaviour, protected tokens, and edit rate per severity."""

import json
import random
import re
import unicodedata

import pytest

from medrobust.noise import _text_data as data
from medrobust.noise import text_abbreviations, text_format, text_misspelling, text_segmentation
from medrobust.noise.catalogue import builtin_noises
from medrobust.noise.similarity import edit_rate, edit_rates
from medrobust.noise.text import NOISES as BASIC, is_protected

#: The clinical text noises, in catalogue order.
CLINICAL = tuple(sorted(text_misspelling.NOISES + text_segmentation.NOISES + text_abbreviations.NOISES
                        + text_format.NOISES, key=lambda n: [b.name for b in builtin_noises()].index(n.name)))
NOISES = {n.name: n for n in BASIC + CLINICAL}
SEEDS = range(40)
SENTENCES = [
    "Is there any abnormality in this image?",
    "Was this image taken as a ct scan?",
    "On which side of the image is the lesion?",
    "What modality was used to take this image?",
    "Where is the abnormality, left or right?",
    "Which organ shows a hypodense lesion in the abdomen of this patient?",
    "Does the chest x-ray show pneumonia or a pleural effusion near the diaphragm?",
    "Was the computed tomography done with contrast before the magnetic resonance imaging?",
]
# dense with negation, laterality, numbers and units, and with words one edit away from them
DENSE = [
    "No, not the left one: the right 5 mm nodule without calcification isn't there?",
    "Bilateral effusions, none on the left; 12 mg given, 3.5 cm mass not seen.",
    "Is there no lesion in the left lung?",
    "Are there 3 nodules larger than 5 mm on the right?",
    "The knot is now known to write notes; nod if the lefty rights are noted.",
    "Two masses, one 4cm and one 7 cm, neither on the right nor the left side, 20% of HU 45.",
    "Contralateral mass can't be seen; the ipsilateral one won't enhance without contrast.",
    "Mot nor nodal moment among mmm gm kg cms, ten tens often, anon, snow, tone.",
]


def _params(noise, level, seed, **override):
    params = noise.params(level, seed)
    params.update(override)
    return params


def _protected(text):
    return [t for t in text.split() if is_protected(t)]


def _extreme(noise):
    """Severity 5 with every probability pushed to 1: the harshest the function can be."""
    table = dict(noise.table[-1])
    return {k: (1.0 if isinstance(v, float) and k != "insert_prob" else v) for k, v in table.items()}


# --- the catalogue ---------------------------------------------------------------------------

def test_catalogue_has_at_least_twelve_text_noises_with_unique_names_and_json_tables():
    text = [n for n in builtin_noises() if n.modality == "text"]
    assert len(text) >= 12
    assert len({n.name for n in text}) == len(text)
    for noise in CLINICAL:
        assert noise.protects_tokens and noise.random
        assert re.fullmatch(r"[a-z][a-z_]+", noise.name) and noise.family in {
            "typo", "ocr", "asr", "segmentation", "abbreviation", "spelling", "order", "format", "unicode"}
        assert noise.description.endswith(".") and noise.description.count(". ") == 0
        assert json.loads(json.dumps(list(noise.table))) == list(noise.table)
        assert all(set(row) == set(noise.table[0]) for row in noise.table)


def test_noises_leave_the_global_random_state_alone():
    state = random.getstate()
    for noise in CLINICAL:
        noise.apply(SENTENCES[5], noise.params(5, 1))
    assert random.getstate() == state


def test_word_lists_never_produce_protected_tokens():
    outputs = [w for group in data.HOMOPHONE_GROUPS for w in group]
    outputs += [w for pair in data.ABBREVIATIONS for phrase in pair for w in phrase.split()]
    outputs += [w for word, wrong in data.MISSPELLINGS.items() for w in (word, *wrong)]
    assert not [w for w in outputs if is_protected(w)]
    assert not any(ch.isdigit() for _, dst, _ in data.OCR_CONFUSIONS for ch in dst)
    assert "write" not in data.HOMOPHONES and "know" not in data.HOMOPHONES and "knot" not in data.HOMOPHONES


# --- protected tokens ------------------------------------------------------------------------

@pytest.mark.parametrize("name", [n.name for n in CLINICAL])
def test_protected_tokens_survive_and_none_are_created(name):
    noise = NOISES[name]
    for params in [noise.params(level, seed) for level in (3, 5) for seed in SEEDS] + [
            dict(_extreme(noise), seed=seed) for seed in SEEDS]:
        for sentence in DENSE:
            noisy = noise.apply(sentence, params)
            assert _protected(noisy) == _protected(sentence), (params, sentence, noisy)


# --- typing ----------------------------------------------------------------------------------

def test_keyboard_typos_substitute_only_qwerty_neighbours():
    noise = NOISES["keyboard_typos"]
    assert data.KEYBOARD_NEIGHBOURS["a"] == "qswz" and data.KEYBOARD_NEIGHBOURS["m"] == "jkn"
    assert all(a in data.KEYBOARD_NEIGHBOURS[b] for a in data.KEYBOARD_NEIGHBOURS for b in data.KEYBOARD_NEIGHBOURS[a])
    changed = 0
    for seed in SEEDS:
        for sentence in SENTENCES:
            noisy = noise.apply(sentence, _params(noise, 5, seed, insert_prob=0.0))
            assert len(noisy) == len(sentence)
            for a, b in zip(sentence, noisy):
                if a != b:
                    changed += 1
                    assert b.lower() in data.KEYBOARD_NEIGHBOURS[a.lower()] and a.isupper() == b.isupper()
    assert changed > 50


def test_keyboard_typo_insertions_are_neighbours_of_the_key_beside_them():
    noise = NOISES["keyboard_typos"]
    for seed in SEEDS:
        for sentence in SENTENCES:
            for word, typed in zip(sentence.split(), noise.apply(sentence, _params(noise, 5, seed, insert_prob=1.0)).split()):
                if word == typed:
                    continue
                assert len(typed) == len(word) + 1
                assert any(typed[:i] + typed[i + 1:] == word
                           and any(typed[i].lower() in data.KEYBOARD_NEIGHBOURS.get(word[j].lower(), "")
                                   for j in (i - 1, i) if 0 <= j < len(word))
                           for i in range(len(typed))), (word, typed)


# --- OCR -------------------------------------------------------------------------------------

def _ocr_reachable(word, edits):
    seen, frontier = {word}, {word}
    for _ in range(edits):
        frontier = {w[:i] + dst + w[i + len(src):] for w in frontier for src, dst, _ in data.OCR_CONFUSIONS
                    for i in range(len(w)) if w.startswith(src, i)}
        seen |= frontier
    return seen


@pytest.mark.parametrize("level", [1, 5])
def test_ocr_uses_only_the_confusion_table_and_never_makes_digits(level):
    noise = NOISES["ocr_confusions"]
    edits = noise.table[level - 1]["edits"]
    changed = 0
    for seed in SEEDS:
        for sentence in SENTENCES:
            noisy = noise.apply(sentence, noise.params(level, seed))
            assert sum(c.isdigit() for c in noisy) == sum(c.isdigit() for c in sentence)
            for word, read in zip(sentence.split(), noisy.split()):
                changed += word != read
                assert read in _ocr_reachable(word, edits), (word, read)
    assert changed > 10


# --- speech recognition ----------------------------------------------------------------------

def test_homophones_come_from_the_table_and_spare_protected_words():
    noise = NOISES["asr_homophones"]
    assert set(data.HOMOPHONES["ileum"]) == {"ilium"} and "plural" in data.HOMOPHONES["pleural"]
    sentence = "Write whether the pleural fluid near the ileum is on the right and there is no knot."
    changed = 0
    for seed in SEEDS:
        noisy = noise.apply(sentence, _params(noise, 5, seed, rate=1.0))
        for word, heard in zip(sentence.split(), noisy.split()):
            w, h = word.strip(".,?").lower(), heard.strip(".,?").lower()
            if w != h:
                changed += 1
                assert h in data.HOMOPHONES[w]
        assert "Write" in noisy and " right " in noisy and " no " in noisy and "knot" in noisy
    assert changed >= 4 * len(SEEDS)


# --- segmentation ----------------------------------------------------------------------------

def _letters(text):
    return "".join(text.split())


def test_split_words_only_add_spaces_inside_words():
    noise = NOISES["split_words"]
    for seed in SEEDS:
        for sentence in SENTENCES:
            noisy = noise.apply(sentence, noise.params(5, seed))
            assert _letters(noisy) == _letters(sentence) and len(noisy.split()) >= len(sentence.split())
    assert all(len(noise.apply(s, _params(noise, 1, 0, rate=1.0)).split()) > len(s.split()) for s in SENTENCES)


def test_merge_words_only_remove_spaces_between_words():
    noise = NOISES["merge_words"]
    for seed in SEEDS:
        for sentence in SENTENCES:
            noisy = noise.apply(sentence, noise.params(5, seed))
            assert _letters(noisy) == _letters(sentence) and len(noisy.split()) <= len(sentence.split())
    assert noise.apply(SENTENCES[0], _params(noise, 1, 0, rate=1.0)) == "Isthereanyabnormalityinthisimage?"
    assert noise.apply("the left lung", _params(noise, 1, 0, rate=1.0)) == "the left lung"


# --- abbreviations ---------------------------------------------------------------------------

@pytest.mark.parametrize("long,short", data.ABBREVIATIONS)
def test_abbreviations_round_trip(long, short):
    noise = NOISES["medical_abbreviations"]
    params = _params(noise, 1, 0, rate=1.0, truncate=0.0)
    sentence = f"is there a {long} here?"
    contracted = noise.apply(sentence, params)
    assert contracted == f"is there a {short} here?"
    assert noise.apply(contracted, params) == sentence


def test_abbreviation_casing_and_everyday_words():
    noise = NOISES["medical_abbreviations"]
    params = _params(noise, 1, 0, rate=1.0, truncate=0.0)
    assert noise.apply("CT of the chest x-ray?", params) == "computed tomography of the CXR?"
    assert noise.apply("Image shows MRI.", params) == "Img shows magnetic resonance imaging."
    assert noise.apply("tell us, post it", params) == "tell us, post it"  # not "ultrasound", not "posterior"


def test_abbreviation_fallback_cuts_long_words_before_a_vowel():
    noise = NOISES["medical_abbreviations"]
    params = _params(noise, 1, 0, rate=0.0, truncate=1.0)
    noisy = noise.apply("How many abnormalities, calcifications", params)
    assert re.fullmatch(r"How many abn(orm)?\., calc(if)?\.", noisy), noisy


# --- spelling --------------------------------------------------------------------------------

def test_known_misspellings_come_from_the_list_and_unknown_words_get_phonetic_ones():
    noise = NOISES["clinical_misspellings"]
    known = "Pneumonia in the abdomen and diaphragm"
    for seed in SEEDS:
        noisy = noise.apply(known, _params(noise, 1, seed, rate=1.0, fallback=0.0))
        for word, wrong in zip(known.split(), noisy.split()):
            if word.lower() in data.MISSPELLINGS:
                assert wrong.lower() in data.MISSPELLINGS[word.lower()]
            else:
                assert wrong == word
        assert noisy.startswith(("Neumonia", "Pnemonia"))
    unknown = "hypodense spiculated opacity"
    changed = [noise.apply(unknown, _params(noise, 1, seed, rate=0.0, fallback=1.0)) for seed in SEEDS]
    assert all(c != unknown and len(c.split()) == 3 for c in changed)


# --- order and format ------------------------------------------------------------------------

def test_word_order_swaps_keep_the_words_and_the_punctuation_places():
    noise = NOISES["word_order_swaps"]
    for seed in SEEDS:
        for sentence in SENTENCES:
            noisy = noise.apply(sentence, noise.params(5, seed))
            assert sorted(re.findall(r"[\w-]+", noisy.lower())) == sorted(re.findall(r"[\w-]+", sentence.lower()))
            assert re.sub(r"[\w-]+", "", noisy) == re.sub(r"[\w-]+", "", sentence)


def test_casing_noise_changes_only_case():
    noise = NOISES["casing_noise"]
    for seed in SEEDS:
        for sentence in SENTENCES:
            noisy = noise.apply(sentence, noise.params(5, seed))
            assert noisy.lower() == sentence.lower()


def test_punctuation_noise_keeps_every_letter_and_digit():
    noise = NOISES["punctuation_noise"]
    for seed in SEEDS:
        for sentence in SENTENCES + DENSE:
            noisy = noise.apply(sentence, noise.params(5, seed))
            assert re.sub(r"\W", "", noisy) == re.sub(r"\W", "", sentence)


def test_whitespace_noise_keeps_the_words():
    noise = NOISES["whitespace_noise"]
    for seed in SEEDS:
        for sentence in SENTENCES + DENSE:
            assert noise.apply(sentence, _params(noise, 5, seed, missing_space=0.0)).split() == sentence.split()
            assert _letters(noise.apply(sentence, noise.params(5, seed))) == _letters(sentence)
    glued = noise.apply("Is it a cyst, tumour or abscess?", _params(noise, 1, 0, rate=0.0, missing_space=1.0))
    assert glued == "Is it a cyst,tumour or abscess?"


# --- unicode ---------------------------------------------------------------------------------

# A sample of Unicode's confusables.txt (prototype <- confusable), independent of the noise's table.
_CONFUSABLES = {"a": "\u0430", "c": "\u0441", "e": "\u0435", "o": "\u043e\u03bf", "p": "\u0440", "x": "\u0445",
                "y": "\u0443", "i": "\u0456", "s": "\u0455", "A": "\u0410\u0391", "B": "\u0412\u0392",
                "H": "\u041d\u0397", "O": "\u041e\u039f", "P": "\u0420\u03a1", "T": "\u0422\u03a4"}
_INVISIBLE = re.compile("[" + "".join(data.ZERO_WIDTH) + "]")


def test_homoglyph_table_holds_real_look_alikes_that_survive_nfkc():
    for latin, glyphs in _CONFUSABLES.items():
        assert set(glyphs) <= set(data.HOMOGLYPHS[latin])
    for latin, glyphs in data.HOMOGLYPHS.items():
        for glyph in glyphs:
            assert not glyph.isascii() and unicodedata.name(glyph).split()[0] in {"CYRILLIC", "GREEK"}
            assert unicodedata.normalize("NFKC", glyph) == glyph  # normalisation does not undo it
            assert glyph.isupper() == latin.isupper()
    assert all(unicodedata.category(z) == "Cf" for z in data.ZERO_WIDTH)


def test_homoglyphs_change_code_points_and_map_back_to_the_text():
    noise = NOISES["unicode_homoglyphs"]
    back = {g: latin for latin, glyphs in data.HOMOGLYPHS.items() for g in glyphs}
    invisible = 0
    for seed in SEEDS:
        for sentence in SENTENCES:
            noisy = noise.apply(sentence, noise.params(5, seed))
            invisible += len(_INVISIBLE.findall(noisy))
            restored = "".join(back.get(c, c) for c in _INVISIBLE.sub("", noisy))
            assert restored == sentence
        assert noise.apply(SENTENCES[0], _params(noise, 1, seed, rate=1.0)) != SENTENCES[0]
    assert invisible > 0
    assert not any(_INVISIBLE.search(noise.apply(s, noise.params(1, seed))) for s in SENTENCES for seed in SEEDS)


# --- edit rate -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def questions():
    from medrobust.data.phantom import PhantomVQA

    return [s.question for s in PhantomVQA({}).samples("test")[:24]] + SENTENCES


@pytest.mark.parametrize("name", list(NOISES))
def test_edit_rate_grows_with_severity(name, questions):
    noise = NOISES[name]
    rates = edit_rates(noise, questions, seed=0)
    assert rates == [edit_rate(noise, questions, level, 0) for level in range(1, 6)]
    assert 0.0 < rates[0] and rates[-1] < 0.6 and all(a < b for a, b in zip(rates, rates[1:])), rates
    print(f"{name}: " + " ".join(f"{r:.3f}" for r in rates))
