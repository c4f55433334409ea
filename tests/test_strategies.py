"""hypothesis strategies over compositions: bounds, validation, shrinking order."""

import pytest
from hypothesis import find, given, settings

import medrobust as mr
from medrobust.run.plugins import active_host


@settings(max_examples=60, deadline=None)
@given(comp=mr.compositions(modality="image", min_noises=1, max_noises=2, max_severity=3))
def test_bounds_hold(comp):
    assert 1 <= len(comp.steps) <= 2
    assert len({s.name for s in comp.steps}) == len(comp.steps)
    assert all(active_host().noises[s.name].modality == "image" and 1 <= s.severity <= 3 for s in comp.steps)


@settings(max_examples=30, deadline=None)
@given(comp=mr.text_noises(max_noises=1, min_severity=4))
def test_text_only_and_min_severity(comp):
    assert [active_host().noises[s.name].modality for s in comp.steps] == ["text"]
    assert comp.steps[0].severity >= 4


def test_shrinking_moves_to_fewer_and_milder_noises():
    found = find(mr.compositions(max_noises=3), lambda c: any(s.severity >= 3 for s in c.steps),
                 settings=settings(database=None, derandomize=True))
    assert len(found.steps) == 1 and found.steps[0].severity == 3


@pytest.mark.parametrize("kwargs,message", [
    ({"modality": "audio"}, "modality must be"),
    ({"min_severity": 0}, "1 <= min_severity"),
    ({"min_severity": 4, "max_severity": 2}, "1 <= min_severity"),
    ({"min_noises": 3, "max_noises": 1}, "min_noises <= max_noises"),
])
def test_arguments_are_validated_eagerly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mr.compositions(**kwargs)


def test_unknown_noise_names_fail_when_drawn():
    with pytest.raises(KeyError, match="unknown noise 'snow'"):
        find(mr.compositions(noises=["snow"]), lambda c: True)


def test_severities():
    assert find(mr.severities(min_severity=2), lambda s: True) == 2
    with pytest.raises(ValueError):
        mr.severities(max_severity=6)
