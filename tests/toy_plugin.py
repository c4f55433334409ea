"""A toy medrobust plugin for pytester runs: a tiny dataset and models that need no torch weights.

It is written into pytester directories as ``conftest.py``; medrobust picks up
conftest modules that implement its hooks. Its first line activates medrobust's pytest plugin, the
documented way (a rootdir conftest's ``pytest_plugins``).
"""

pytest_plugins = ["medrobust.pytest_plugin"]

import numpy as np
import textdistance
from PIL import Image

import medrobust

QUESTIONS = {"bright": "Is the square in the image bright?", "shape": "What shape is shown in the image?"}


def _clean_image(i: int) -> Image.Image:
    arr = np.full((32, 32), 40, dtype=np.uint8)
    arr[8:24, 8:24] = 200 if i % 2 == 0 else 90
    return Image.fromarray(arr, mode="L")


class ToyDataset:
    """n samples: closed 'bright?' questions and open 'shape?' questions."""

    def __init__(self, options):
        self.n = int(options.get("n") or 24)

    def samples(self, split):
        if split not in ("test", "reference"):
            raise ValueError(f"unknown split {split!r}; splits: test, reference")
        offset = 0 if split == "test" else 1000
        out = []
        for i in range(offset, offset + self.n):
            kind = "bright" if i % 3 else "shape"
            answer = ("yes" if i % 2 == 0 else "no") if kind == "bright" else "square"
            out.append(medrobust.Sample(id=f"toy/{split}/{i}", image=_clean_image(i),
                                        question=QUESTIONS[kind], answer=answer,
                                        answer_type="closed" if kind == "bright" else "open",
                                        metadata={"kind": kind}))
        return out

    def describe(self):
        return {"name": "toy", "n": self.n}


class ToyModel:
    """Reads the square's brightness: right on clean images, wrong under strong pixel noise."""

    def __init__(self, options):
        self.options = options
        self.calls = 0

    def answer(self, samples):
        self.calls += 1
        out = []
        for s in samples:
            arr = np.asarray(s.image, dtype=np.float32) / 255.0
            if "shape" in s.question:
                out.append("square")
                continue
            centre = arr[8:24, 8:24]
            # a noisy estimate: the brightest pixel in a small window, fooled by noise
            out.append("yes" if centre[6:10, 6:10].max() > 0.7 else "no")
        return out

    def describe(self):
        return {"name": "toy", "weights_sha256": "0" * 64}


class PlantedModel:
    """Fails only when Gaussian noise >= severity 3 and character typos >= severity 3 co-occur.

    It measures both perturbations over the whole batch against the clean
    samples it rebuilds from the ids: pixel noise in a flat background corner
    (which blur and JPEG leave flat) and the mean edit distance of the questions.
    """

    def __init__(self, options):
        self.options = options

    def answer(self, samples):
        sigmas, edits, truths = [], [], []
        for s in samples:
            i = int(s.id.rsplit("/", 1)[1])
            clean = np.asarray(_clean_image(i), dtype=np.float32) / 255.0
            noisy = np.asarray(s.image, dtype=np.float32) / 255.0
            sigmas.append(float((noisy - clean)[0:4, 0:4].std()))
            kind = "bright" if i % 3 else "shape"
            edits.append(textdistance.levenshtein.distance(s.question, QUESTIONS[kind]))
            truths.append(("yes" if i % 2 == 0 else "no") if kind == "bright" else "square")
        broken = np.mean(sigmas) > 0.075 and np.mean(edits) > 1.3
        flip = {"yes": "no", "no": "yes", "square": "square"}
        return [flip[t] if broken else t for t in truths]


class EvilModel:
    """Answers with markup, to prove the certificate escapes model output."""

    def __init__(self, options):
        pass

    def answer(self, samples):
        return ["<script>alert('x')</script>" for _ in samples]

    def describe(self):
        return {"name": "<script>alert('name')</script>"}


class FlakyModel:
    """Raises on one particular sample; the run must record it and go on."""

    def __init__(self, options):
        pass

    def answer(self, samples):
        if any(s.id.endswith("/4") for s in samples):
            raise RuntimeError("corrupt input on sample 4")
        return ["yes" for _ in samples]


@medrobust.hookimpl
def medrobust_register_datasets(register):
    register("toy", ToyDataset)


@medrobust.hookimpl
def medrobust_register_models(register):
    register("toy", ToyModel)
    register("planted", PlantedModel)
    register("evil", EvilModel)
    register("flaky", FlakyModel)


class ToyDenoiser:
    """A calibrator that median-filters images: restores the toy model under impulse noise."""

    def __init__(self, options):
        self.size = int(options.get("size", 3))
        self.fitted = 0

    def fit(self, model, reference_samples, noises):
        self.fitted = len(reference_samples)

    def wrap(self, model):
        from PIL import ImageFilter

        size = self.size

        class Wrapped:
            def answer(self, samples):
                return model.answer([s.replace(image=s.image.filter(ImageFilter.MedianFilter(size)))
                                     for s in samples])

        return Wrapped()

    def describe(self):
        return {"name": "toy-median", "params": {"size": self.size}, "fitted_on": self.fitted}


@medrobust.hookimpl
def medrobust_register_calibrators(register):
    register("toy-median", ToyDenoiser)
