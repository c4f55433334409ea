"""The plugin manager: built-ins via entry points, duplicates and unknown names, misspelled hooks."""

import types

import pytest

import medrobust
from medrobust.cli import main
from medrobust.run.plugins import load_plugins
from medrobust.run.plugins import DuplicateNameError, PluginError, UnknownNameError


def _plugin(name, **hooks):
    module = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(module, hook, medrobust.hookimpl(fn))
    return module


def test_builtins_are_loaded_through_the_entry_point_group():
    host = load_plugins()
    assert host.models.provider("reference") == "reference"
    assert host.datasets.provider("phantom-vqa") == "builtins"
    assert {"gaussian_noise", "gaussian_blur", "jpeg", "char_typos", "word_dropout"} <= set(host.noises)
    assert {"closed_accuracy", "open_recall", "answer_consistency"} <= set(host.metrics)
    assert "none" in host.calibrators


def test_without_entry_points_nothing_is_registered():
    host = load_plugins(entry_points=False)
    assert len(host.models) == 0 and len(host.noises) == 0


def test_duplicate_names_fail_naming_both_plugins():
    one = _plugin("alpha_plugin", medrobust_register_models=lambda register: register("m", object))
    two = _plugin("beta_plugin", medrobust_register_models=lambda register: register("m", object))
    with pytest.raises(DuplicateNameError, match="'m' is registered twice: by plugin 'alpha_plugin' "
                                                 "and by plugin 'beta_plugin'"):
        load_plugins(extra=[one, two], entry_points=False)


def test_a_third_party_cannot_take_a_builtin_name():
    clash = _plugin("clash", medrobust_register_noises=lambda register: register("jpeg", object()))
    with pytest.raises(DuplicateNameError, match="by plugin 'builtins' and by plugin 'clash'"):
        load_plugins(extra=[clash])


def test_unknown_names_list_what_is_registered():
    host = load_plugins()
    with pytest.raises(UnknownNameError, match="unknown model 'gpt'; registered models: .*reference"):
        host.models["gpt"]
    with pytest.raises(UnknownNameError, match="unknown noise .snow.; registered noises: .*char_typos, "):
        host.noises["snow"]


def test_a_misspelled_hook_fails_loudly():
    typo = types.ModuleType("typo")
    typo.medrobust_register_model = medrobust.hookimpl(lambda register: None)
    with pytest.raises(Exception, match="medrobust_register_model"):
        load_plugins(extra=[typo], entry_points=False)


def test_a_plugin_that_raises_is_named():
    def broken(register):
        raise RuntimeError("boom")
    with pytest.raises(PluginError, match="plugin 'broken_plugin' failed in medrobust_register_datasets: "
                                          "RuntimeError: boom"):
        load_plugins(extra=[_plugin("broken_plugin", medrobust_register_datasets=broken)], entry_points=False)


def test_cli_plugins_lists_every_kind_with_its_provider(capsys):
    assert main(["plugins"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for line in ("models (", "calibrators (", "noises (", "datasets (", "metrics (",
                 "reference from reference", "phantom-vqa from builtins", "none from builtins"):
        assert line in out
    assert main(["plugins", "--json"]) == 0
    assert '"gaussian_noise": "builtins"' in capsys.readouterr().out


def test_cli_evaluate_reports_unknown_names(capsys):
    assert main(["evaluate", "--model", "nope", "--composition", "clean"]) == 2
    assert "unknown model 'nope'; registered models:" in capsys.readouterr().err
