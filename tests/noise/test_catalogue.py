"""The built-in catalogue: every declared noise once, in the fixed order hypothesis draws from."""

import importlib

import pytest

from medrobust.noise import catalogue
from medrobust.noise.catalogue import CATALOGUE_MODULES, CATALOGUE_ORDER, builtin_noises


def test_builtin_noises_follow_the_catalogue_order():
    noises = builtin_noises()
    assert [n.name for n in noises] == list(CATALOGUE_ORDER)
    assert len(noises) == 49
    # the first noises of the catalogue: hypothesis shrinks towards them, so they must never move
    assert [n.name for n in noises[:6]] == ["gaussian_noise", "gaussian_blur", "jpeg", "shot_noise",
                                            "impulse_noise", "speckle_noise"]
    # images first, then text
    modalities = [n.modality for n in noises]
    assert modalities == sorted(modalities)


def test_every_catalogue_module_declares_noises_that_are_all_built_in():
    names = set(CATALOGUE_ORDER)
    for module in CATALOGUE_MODULES:
        declared = importlib.import_module(module).NOISES
        assert declared and {n.name for n in declared} <= names, module


def test_a_noise_missing_from_the_order_is_refused(monkeypatch):
    monkeypatch.setattr(catalogue, "CATALOGUE_ORDER", CATALOGUE_ORDER[:-1])
    with pytest.raises(ValueError, match=r"not in CATALOGUE_ORDER \['unicode_homoglyphs'\]"):
        builtin_noises()


def test_an_ordered_name_no_module_declares_is_refused(monkeypatch):
    monkeypatch.setattr(catalogue, "CATALOGUE_ORDER", CATALOGUE_ORDER + ("no_such_noise",))
    with pytest.raises(ValueError, match=r"declared by no module \['no_such_noise'\]"):
        builtin_noises()


def test_a_noise_declared_twice_is_refused(monkeypatch):
    monkeypatch.setattr(catalogue, "CATALOGUE_MODULES", CATALOGUE_MODULES + ("medrobust.noise.sensor",))
    with pytest.raises(ValueError, match="noise 'gaussian_noise' is declared twice"):
        builtin_noises()
