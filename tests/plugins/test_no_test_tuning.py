"""No tuning on test data: every entry point that chooses a default refuses test samples."""

from __future__ import annotations

import pytest
from PIL import Image

import medrobust
from medrobust import PhantomVQA
from medrobust_plugins.imc import PDC
from medrobust_plugins.imc._splits import require_not_test, split_of

NOISES = medrobust.load_plugins().noises


@pytest.fixture(scope="module")
def data() -> PhantomVQA:
    return PhantomVQA({})


def _sample(id: str, **metadata) -> medrobust.Sample:
    return medrobust.Sample(id, Image.new("L", (8, 8)), "Is there a lesion?", "yes", "closed", metadata)


def test_a_sample_tells_its_split(data) -> None:
    assert split_of(data.samples("test")[0]) == "test"
    assert split_of(data.samples("reference")[0]) == "reference"
    assert split_of(_sample("1042", release_split="test")) == "test"  # VQA-RAD, SLAKE, PathVQA, JSONL
    assert split_of(_sample("1042", release_split="train")) == "train"
    assert split_of(_sample("x", split="reference", release_split="test")) == "reference"
    assert split_of(_sample("s")) is None


class Untouchable:
    """A model that fails the test if a tuning entry point asks it anything."""

    def __getattr__(self, name):
        raise AssertionError(f"the model was used ({name}) before the samples were checked")


def _entry_points():
    from medrobust_plugins.imc import _sms_tune, tune_pdc

    return {
        "tune_pdc": lambda model, samples: tune_pdc.tune(model, samples, NOISES, [2]),
        "_sms_tune.tune": lambda model, samples: _sms_tune.tune(model, samples),
        "_sms_tune.accuracy_by_text_noise": lambda model, samples: _sms_tune.accuracy_by_text_noise(
            model, {}, samples),
    }


@pytest.mark.parametrize("entry", ["tune_pdc", "_sms_tune.tune", "_sms_tune.accuracy_by_text_noise"])
def test_tuning_entry_points_refuse_test_samples(data, entry) -> None:
    run = _entry_points()[entry]
    mixed = data.samples("reference")[:20] + data.samples("test")[:5]
    with pytest.raises(medrobust.OptionError, match=rf"{entry}: 5 of the 25 samples it was given come from the "
                                                    r"test split \(phantom-vqa/test/00000, phantom-vqa/test/"
                                                    r"00001, phantom-vqa/test/00002, \.\.\.\); it reads only "
                                                    r"the reference split"):
        run(Untouchable(), mixed)
    with pytest.raises(medrobust.OptionError, match=r"1 of the 1 samples it was given come from the test split"):
        run(Untouchable(), [_sample("1042", release_split="test")])
    with pytest.raises(medrobust.OptionError, match=r"2 of the 2 samples it was given record no split"):
        run(Untouchable(), [_sample("a"), _sample("b")])


def test_pdc_never_fits_on_test_samples(data) -> None:
    with pytest.raises(medrobust.OptionError, match=r"imc-pdc fit: 4 of the 4 samples it was given come from the "
                                                    r"test split"):
        PDC({}).fit(PatchLike(), data.samples("test")[:4], noises=NOISES)


class PatchLike:
    def capabilities(self):
        return medrobust.Capabilities(feature_hook=True, reasons={"free_generation": "-", "token_scoring": "-"})

    def vision_features(self, images):
        raise AssertionError("PDC encoded images before checking their split")

    def set_feature_transform(self, fn):
        pass

    def answer(self, samples):
        return ["yes"] * len(samples)


def test_samples_without_a_split_may_be_fitted_but_not_tuned() -> None:
    require_not_test([_sample("a")], "a fit", unknown_ok=True)
    with pytest.raises(medrobust.OptionError, match="record no split"):
        require_not_test([_sample("a")], "a tuner")
