"""PDC, Perturbation-aware Denoising Calibration: IMC's image half.

Training-free and built only from the model's own vision encoder
(``model.vision_features``), following "Perceive and Calibrate" (arXiv 2512.21964):

1. **Prototypes** (``fit``): each clean reference image is encoded clean and under
   every known image noise at a band of severities (the noises as the run's registry
   has them, declared or calibrated). For each class (``clean`` and ``noise:band``)
   PDC keeps the mean of a per-image *descriptor* (statistics of the token features:
   per-channel token mean, token std and neighbour-token difference energy on the
   patch grid) and the per-token (or per-channel) mean and std of the features
   themselves (:mod:`~medrobust_plugins.imc._pdc_prototypes`).
2. **Perceive**: an incoming image's descriptor is assigned to the prototypes by a
   linear discriminant (nearest centroid under the shared, shrunk within-class
   covariance, i.e. Mahalanobis distance) giving posteriors over the noise
   prototypes. Whether the image is noisy at all is a separate gate: by default
   its distance from the clean prototype, in the discriminant subspace, against
   the distances of clean reference images measured out of sample (cross-fitted:
   each fold against statistics fitted on the others), and the posterior. Below
   the gate nothing is changed: the features come back bit-identical. The share
   of clean images the gate leaves untouched is stated in ``describe()["gate"]``
   and holds on clean images it never saw (``bench/pdc_report.py``).
3. **Calibrate**: the features move toward the clean prototype, guided by the
   identified noise prototype: ``shift`` removes the noise direction
   ``mu_noise - mu_clean``; ``restandardise`` maps the noisy prototype's
   per-token mean/std to the clean ones. The move is scaled by ``strength`` and by
   the assignment confidence (``soft``: every noise class weighted by its
   posterior; ``hard``: the best class only).

Options (``--calibrator-option KEY=VALUE``; strings are parsed), with defaults
chosen by ``python -m medrobust_plugins.imc.tune_pdc`` on the reference split:

========================  =======================================================
``noises``                comma-separated image noises to know, from the run's noise
                          registry (default: the image noises of the ``imc-11`` preset)
``bands``                 severity bands, ``name:lo-hi`` comma-separated, one
                          prototype each (default: one per level,
                          ``s1:1,s2:2,s3:3,s4:4,s5:5``; ``mild:1-2,strong:3-5``
                          pools levels)
``max_reference``         reference images used for prototypes (default 96;
                          a seeded subsample keeps fitting fast)
``descriptor``            ``stats`` (per channel: token mean, log token std, log
                          neighbour-token difference on the patch grid) or
                          ``spread`` (the two spread statistics only) or
                          ``pooled`` (token mean only)
``classifier``            ``lda`` (shared-covariance discriminant) or ``cosine``
                          (cosine similarity to centred prototype descriptors)
``shrinkage``             covariance shrinkage of ``lda`` in [0, 1]
``min_separability``      a noise prototype is kept only if at least this share of
                          its own reference images lies nearer to it than to the
                          clean prototype; the others are merged into clean (the
                          encoder cannot tell them apart, so there is nothing to
                          calibrate); ``describe()`` lists them
``temperature``           softmax temperature of the posteriors
``assignment``            ``soft`` or ``hard``
``formula``               ``shift``, ``restandardise`` or ``none`` (perceive only)
``stats``                 ``token`` (per token position) or ``channel`` statistics
``strength``              how far to move, 0..2 (1 = all the way to the prototype)
``gate``                  how "noisy or not" is decided: ``novelty`` (the image's
                          Mahalanobis distance from the clean prototype exceeds
                          the ``clean_quantile`` quantile of the clean reference
                          images' distances) or ``posterior`` (``1 - P(clean)``
                          exceeds ``margin`` and the best prototype is a noise) or
                          ``both`` (both must agree) or ``off`` (no gate: every
                          image is calibrated; an ablation)
``clean_quantile``        the novelty gate's margin: the share of clean images it
                          leaves untouched, out of sample: the threshold is fitted by
                          cross-fitting on the reference images (``gate_folds`` folds;
                          each fold's clean distances measured against statistics
                          fitted on the other folds), never on the images the final
                          statistics were fitted on; ``describe()`` states the share the
                          whole gate left untouched on those held-out folds
``gate_folds``            folds of that cross-fitting (default 10, at least 2)
``gate_space``            where the novelty distance is measured: ``discriminant``
                          (the reduced-rank LDA subspace, the directions that separate
                          the noise prototypes from clean and each other) or ``full``
                          (the whole descriptor, where image content dominates: out of
                          sample a noisy image hardly stands out from clean ones)
``margin``                the posterior gate's margin
``seed``                  seed of the reference subsample and of the noises
========================  =======================================================
"""

from __future__ import annotations

import random
from typing import Any, Mapping, Optional, Sequence

import medrobust

from ._passthrough import PassThroughModel
from ._pdc_prototypes import CLEAN, Prototypes
from ._splits import require_not_test

__all__ = ["PDC", "PDCWrapper", "DEFAULTS", "IMC11_IMAGE_NOISES", "parse_options", "require_feature_hook"]

IMC11_IMAGE_NOISES = ("gaussian_noise", "impulse_noise", "motion_blur", "jpeg", "contrast", "pixelate")

DEFAULTS: dict[str, Any] = {
    "noises": ",".join(IMC11_IMAGE_NOISES),
    "bands": "s1:1,s2:2,s3:3,s4:4,s5:5",
    "max_reference": 96,
    "descriptor": "stats",
    "classifier": "lda",
    "shrinkage": 0.1,
    "temperature": 1.0,
    "assignment": "soft",
    "formula": "restandardise",
    "stats": "token",
    "strength": 1.0,
    "min_separability": 0.75,
    "gate": "both",
    "clean_quantile": 0.95,
    "gate_folds": 10,
    "gate_space": "discriminant",
    "margin": 0.5,
    "seed": 0,
}
_CHOICES = {
    "descriptor": ("stats", "spread", "pooled"),
    "classifier": ("lda", "cosine"),
    "assignment": ("soft", "hard"),
    "formula": ("shift", "restandardise", "none"),
    "stats": ("token", "channel"),
    "gate": ("both", "novelty", "posterior", "off"),
    "gate_space": ("discriminant", "full"),
}


def parse_options(options: dict[str, Any]) -> dict[str, Any]:
    """Defaults updated with ``options``, strings parsed to the defaults' types.

    Raises:
        medrobust.OptionError: An unknown option, or a value of the wrong type or out of range.
    """
    out = medrobust.parse_options("imc-pdc", options, DEFAULTS, _CHOICES)
    for key, top in (("strength", 2.0), ("margin", 1.0), ("shrinkage", 1.0), ("clean_quantile", 1.0),
                     ("min_separability", 1.0)):
        if not 0.0 <= out[key] <= top:
            raise medrobust.OptionError(f"imc-pdc: option {key} must lie in [0, {top:g}], got {out[key]}")
    if out["gate_folds"] < 2:
        raise medrobust.OptionError(f"imc-pdc: option gate_folds must be at least 2, got {out['gate_folds']}")
    if out["temperature"] <= 0:
        raise medrobust.OptionError(f"imc-pdc: option temperature must be positive, got {out['temperature']}")
    out["_bands"] = _parse_bands(out["bands"])
    out["_noises"] = [n.strip() for n in out["noises"].split(",") if n.strip()]
    return out


def _parse_bands(text: str) -> list[tuple[str, list[int]]]:
    bands = []
    for part in text.split(","):
        name, sep, span = part.strip().partition(":")
        lo, _, hi = span.partition("-")
        try:
            levels = list(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            levels = []
        if not sep or not name or not levels or not set(levels) <= {1, 2, 3, 4, 5}:
            raise medrobust.OptionError(f"imc-pdc: bands must look like 'mild:1-2,strong:3-5', got {text!r}")
        bands.append((name, levels))
    return bands


def require_feature_hook(model: Any, who: str = "imc-pdc") -> None:
    """Raise :class:`medrobust.MissingCapability` unless ``model`` declares the feature hook."""
    caps = medrobust.capabilities_of(model)
    if not caps.has("feature_hook"):
        name = getattr(model, "name", None) or type(model).__name__
        raise medrobust.MissingCapability(
            f"{who} needs the feature-hook capability (vision_features + set_feature_transform); "
            f"model {name} does not offer it ({caps.reason('feature_hook')}), so PDC cannot run; SMS can")


class PDC:
    """The PDC calibrator: ``fit`` prototypes, ``perceive`` noise, ``wrap`` a model."""

    def __init__(self, options: Optional[dict[str, Any]] = None) -> None:
        self.given = {k: v for k, v in dict(options or {}).items()}
        self.opts = parse_options(self.given)
        self.fitted_on = 0
        self.fitted_ids: list[str] = []
        """Ids of the reference samples the prototypes were fitted on (the others are held out)."""
        self.prototypes: Optional[Prototypes] = None

    @property
    def labels(self) -> list[str]:
        """The prototypes kept (``clean`` first); empty before ``fit``."""
        return list(self.prototypes.labels) if self.prototypes is not None else []

    # -- fitting ------------------------------------------------------------
    def fit(self, model: Any, reference_samples: Sequence[Any], noises: Mapping[str, Any]) -> None:
        """Encode clean reference images clean and under each noise band; keep prototypes.

        Args:
            model: A model declaring the feature hook.
            reference_samples: Clean reference samples (never test samples).
            noises: The run's noise registry (name -> noise), as declared or calibrated:
                the noises of option ``noises`` are taken from it.
        """
        require_feature_hook(model)
        known = [name for name in self.opts["_noises"] if name in noises]
        if len(known) < len(self.opts["_noises"]):
            missing = sorted(set(self.opts["_noises"]) - set(known))
            images = sorted(n for n in noises if getattr(noises[n], "modality", None) == "image")
            raise medrobust.OptionError(f"imc-pdc: option noises names {', '.join(missing)}, not in the run's "
                                        f"noise registry; its image noises: {', '.join(images)}")
        for name in self.opts["_noises"]:
            noise = noises[name]
            if noise.modality != "image":
                raise medrobust.OptionError(f"imc-pdc: noise {name!r} is a {noise.modality} noise; PDC knows "
                                            "image noises only")
        samples = list(reference_samples)
        if not samples:
            raise ValueError("imc-pdc: fit needs at least one reference sample")
        require_not_test(samples, "imc-pdc fit", unknown_ok=True)
        rng = random.Random(self.opts["seed"])
        if len(samples) > self.opts["max_reference"]:
            keep = sorted(rng.sample(range(len(samples)), self.opts["max_reference"]))
            samples = [samples[i] for i in keep]
        images = [s.image for s in samples]
        base = [medrobust.image_to_tensor(im) for im in images]

        features: dict[str, Any] = {CLEAN: model.vision_features(images).float()}
        for name in self.opts["_noises"]:
            noise = noises[name]
            for band, levels in self.opts["_bands"]:
                # each image gets one severity of the band, cycling, and its own seed
                noisy = []
                for i in range(len(images)):
                    level = levels[i % len(levels)]
                    params = noise.params(level, rng.getrandbits(62))
                    noisy.append(medrobust.tensor_to_image(noise.apply(base[i], params), images[i].mode))
                features[f"{name}:{band}"] = model.vision_features(noisy).float()
        self.prototypes = Prototypes(features, self.opts)
        self.fitted_on = len(samples)
        self.fitted_ids = [s.id for s in samples]

    def _fitted(self) -> Prototypes:
        if self.prototypes is None:
            raise RuntimeError("imc-pdc: call fit(model, reference_samples, noises) before perceiving")
        return self.prototypes

    # -- perception and calibration (see Prototypes) -------------------------
    def descriptor(self, features: Any) -> Any:
        """Per-image statistics of token features ``[B, T, D]`` -> ``[B, K]``."""
        return self._fitted().descriptor(features)

    def posteriors(self, features: Any) -> Any:
        """``[B, classes]`` posteriors over :attr:`labels` for features ``[B, T, D]``."""
        return self._fitted().posteriors(features)

    def gate(self, features: Any, post: Any = None) -> Any:
        """``[B]`` booleans: whether each image counts as noisy (calibration applies)."""
        return self._fitted().gate(features, post)

    def perceive(self, features: Any) -> list[tuple[str, float, bool]]:
        """For each image: (label, confidence, whether calibration applies).

        The label is ``clean`` when the gate says so, else the noise name (its
        severity bands summed); confidence is the gate's certainty for ``clean``
        (``P(clean)`` under the posterior gate, the share of clean reference images
        farther away under the novelty gate) or the noise's share of the posterior.
        """
        return self._fitted().perceive(features)

    def calibrate(self, features: Any) -> Any:
        """Features moved toward the clean prototype; unchanged (same values) where clean."""
        return self._fitted().calibrate(features)

    # -- the contract --------------------------------------------------------
    def transform(self, features: Any, images: Sequence[Any] = ()) -> Any:
        """The feature transform installed in the model: ``fn(features, images)``."""
        return self.calibrate(features)

    def wrap(self, model: Any) -> "PDCWrapper":
        """A model answering through PDC."""
        require_feature_hook(model)
        if self.prototypes is None:
            raise RuntimeError("imc-pdc: call fit(model, reference_samples, noises) before wrap(model)")
        return PDCWrapper(model, self)

    def describe(self) -> dict[str, Any]:
        params = {k: v for k, v in self.opts.items() if not k.startswith("_")}
        merged = dict(self.prototypes.merged) if self.prototypes is not None else {}
        described = {"name": "imc-pdc", "params": params, "fitted_on": self.fitted_on,
                     "prototypes": self.labels, "merged_into_clean": merged}
        if self.prototypes is not None:
            described["gate"] = {"kind": self.opts["gate"], "folds": self.prototypes.gate_folds,
                                 "threshold": round(self.prototypes.clean_threshold, 4),
                                 "clean_untouched": round(self.prototypes.clean_untouched, 4)}
        return described


class PDCWrapper(PassThroughModel):
    """The wrapped model: ``answer`` goes through the PDC feature transform.

    The inner model's capabilities pass through unchanged (``generate`` and
    ``score_text`` run without the transform).
    """

    def __init__(self, model: Any, pdc: PDC) -> None:
        super().__init__(model)
        self.pdc = pdc

    def answer(self, samples: list[Any]) -> list[str]:
        self.model.set_feature_transform(self.pdc.transform)
        try:
            return self.model.answer(samples)
        finally:
            self.model.set_feature_transform(None)
