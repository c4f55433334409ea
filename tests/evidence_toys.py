"""Extra toy models and a stratified toy dataset for the certificate-evidence tests.

The code in :data:`EXTRA` is appended to the toy plugin (``toy_plugin.py``) in a pytester
conftest, so it extends that plugin's registrations instead of competing with them.
"""

import pytest
from conftest import TOY_PLUGIN

EXTRA = '''

class StrataDataset(ToyDataset):
    """The toy samples with a modality and an organ in their metadata."""

    def samples(self, split):
        organs = ("brain", "chest", "liver")
        return [s.replace(metadata={**s.metadata, "modality": "ct" if i % 2 else "mri",
                                    "organ": organs[i % 3]})
                for i, s in enumerate(super().samples(split))]


class DriftingModel(ToyModel):
    """Right on clean images, but on every fourth sample its answer flips each time it is asked."""

    def __init__(self, options):
        super().__init__(options)
        self.seen = {}

    def answer(self, samples):
        out = super().answer(samples)
        for k, s in enumerate(samples):
            i = int(s.id.rsplit("/", 1)[1])
            count = self.seen[s.id] = self.seen.get(s.id, 0) + 1
            if i % 4 == 0 and count % 2 == 0 and out[k] in ("yes", "no"):
                out[k] = {"yes": "no", "no": "yes"}[out[k]]
        return out

    def describe(self):
        return {"name": "drifting"}


class BlindModel:
    """Ignores the image: reads the answer off the sample id (a leak), the image never matters."""

    def __init__(self, options):
        pass

    def answer(self, samples):
        out = []
        for s in samples:
            i = int(s.id.rsplit("/", 1)[1])
            out.append("square" if "shape" in s.question else ("yes" if i % 2 == 0 else "no"))
        return out


class PickyModel(ToyModel):
    """Breaks the answer contract (returns nothing) when shown a uniform image."""

    def answer(self, samples):
        if any(s.image.getextrema()[0] == s.image.getextrema()[1] for s in samples):
            return []
        return super().answer(samples)


_TOY = {"models": medrobust_register_models, "datasets": medrobust_register_datasets}


@medrobust.hookimpl
def medrobust_register_models(register):
    _TOY["models"](register)
    register("drifting", DriftingModel)
    register("blind", BlindModel)
    register("picky", PickyModel)


@medrobust.hookimpl
def medrobust_register_datasets(register):
    _TOY["datasets"](register)
    register("toy-strata", StrataDataset)
'''


def make_evidence_toy(pytester: pytest.Pytester) -> pytest.Pytester:
    """Make ``pytester``'s directory register the toy plugin plus the models above."""
    pytester.makeconftest(TOY_PLUGIN.read_text() + EXTRA)
    pytester.makefile(".ini", pytest="[pytest]\n")
    return pytester
