"""Typed plugin options."""

import pytest

from medrobust import parse_options

DEFAULTS = {"strength": 1.0, "rounds": 2, "hard": False, "mode": "soft", "noises": "a,b"}


def test_strings_become_the_defaults_types():
    out = parse_options("p", {"strength": "0.5", "rounds": "3", "hard": "yes", "mode": " hard ",
                              "noises": ["x", "y"]}, DEFAULTS, {"mode": ("soft", "hard")})
    assert out == {"strength": 0.5, "rounds": 3, "hard": True, "mode": "hard", "noises": "x,y"}
    assert parse_options("p", {}, DEFAULTS) == DEFAULTS


@pytest.mark.parametrize("options,message", [
    ({"strenght": "1"}, "p: unknown option(s) strenght; known: hard, mode, noises, rounds, strength"),
    ({"rounds": "two"}, "p: option rounds='two' is not a int"),
    ({"hard": "maybe"}, "p: option hard='maybe' is not a bool"),
    ({"mode": "medium"}, "p: option mode must be one of soft, hard, got 'medium'"),
])
def test_bad_options_name_plugin_option_and_expectation(options, message):
    with pytest.raises(ValueError) as info:
        parse_options("p", options, DEFAULTS, {"mode": ("soft", "hard")})
    assert str(info.value) == message
