"""Composition.parse: every accepted form round-trips, every malformed one says what is expected."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medrobust.noise import Composition, NoiseStep

COMPOSITIONS = [
    Composition(),
    Composition.of("jpeg@2"),
    Composition.of(("jpeg", 2), "char_typos@5"),
    Composition.of("gaussian_noise@4", "char_typos@3", "jpeg@1", "word_dropout@2", "mri_spike@5"),
]


@pytest.mark.parametrize("comp", COMPOSITIONS, ids=lambda c: c.key)
def test_every_text_a_composition_writes_parses_back(comp):
    assert Composition.parse(comp.key) == comp  # "a@3+b@1" ("clean" when empty)
    assert Composition.parse(str(comp)) == comp  # "a@3 + b@1"
    assert Composition.parse(comp.to_json_text()) == comp
    assert Composition.parse(f"  {comp.to_json_text()}\n") == comp


def test_clean_forms_are_the_empty_composition():
    for text in ("", "clean", "  clean ", "\n", "[]"):
        assert Composition.parse(text) == Composition() and Composition.parse(text).is_clean


def test_a_step_without_severity_is_severity_1():
    assert Composition.parse("jpeg") == Composition((NoiseStep("jpeg", 1),))
    assert Composition.parse("jpeg+char_typos@3") == Composition.of("jpeg@1", "char_typos@3")
    assert Composition.parse("jpeg@03") == Composition.of("jpeg@3")


def test_to_json_text_is_the_canonical_text_it_always_was():
    comp = Composition.of(("jpeg", 2), "char_typos@5")
    text = comp.to_json_text()
    assert text == '[{"name":"jpeg","severity":2},{"name":"char_typos","severity":5}]'
    assert text == json.dumps(comp.to_json(), sort_keys=True, separators=(",", ":"))  # the recipe before
    assert Composition().to_json_text() == "[]"


@pytest.mark.parametrize("text", [
    "jpeg@", "jpeg@x", "jpeg@-1", "jpeg@2.5", "@3", "jpeg@3++char_typos@1", "+jpeg@1", "jpeg@1+",
    "gaussian noise@2", "jpeg@3@4", '{"name": "jpeg", "severity": 2}',
])
def test_malformed_step_texts_say_which_forms_are_expected(text):
    with pytest.raises(ValueError, match=r"malformed composition .*expected \"\" or \"clean\".*name@3\+other@1"):
        Composition.parse(text)


@pytest.mark.parametrize("text", [
    "[", "[{]", '{"name": "jpeg"}]', "[1]", '["jpeg@2"]', '[{"name": "jpeg"}]', '[{"severity": 2}]',
    '[{"name": "", "severity": 2}]', '[{"name": 3, "severity": 2}]', '[{"name": "jpeg", "severity": "2"}]',
    '[{"name": "jpeg", "severity": 2.0}]', '[{"name": "jpeg", "severity": true}]',
    '[{"name": "jpeg", "severity": 2, "params": {}}]',
])
def test_malformed_json_texts_say_which_forms_are_expected(text):
    with pytest.raises(ValueError, match=r"malformed composition .*JSON list \[\{\"name\""):
        Composition.parse(text)


@pytest.mark.parametrize("text", ["jpeg@0", "jpeg@6", '[{"name": "jpeg", "severity": 9}]'])
def test_severities_outside_1_to_5_are_refused_with_the_text(text):
    with pytest.raises(ValueError, match=r"composition .*severity of 'jpeg' must be 1-5"):
        Composition.parse(text)


def test_parse_takes_only_text():
    with pytest.raises(TypeError, match="takes a text"):
        Composition.parse(["jpeg@2"])  # type: ignore[arg-type]


def test_of_reads_string_steps_with_the_same_grammar():
    assert Composition.of(" jpeg@2 ", "char_typos") == Composition.parse("jpeg@2+char_typos@1")
    with pytest.raises(ValueError, match="malformed composition 'jpeg@'"):
        Composition.of("jpeg@")


NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)


@given(st.lists(st.tuples(NAMES, st.integers(1, 5)), max_size=6))
def test_any_composition_round_trips_through_all_three_texts(steps):
    comp = Composition.of(*steps)
    for text in (comp.key, str(comp), comp.to_json_text()):
        assert Composition.parse(text) == comp
