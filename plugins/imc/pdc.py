"""PDC, Perturbation-aware Denoising Calibration: IMC's image half.

Training-free and built only from the model's own vision encoder
(``model.vision_features``), following "Perceive and Calibrate" (arXiv 2512.21964):

1. **Prototypes** (``fit``): each clean reference image is encoded clean and under
   every known image noise at a band of severities. For each class (``clean`` and
   ``noise:band``) PDC keeps the mean of a per-image *descriptor* (statistics of
   the token features: per-channel token mean, token std and neighbour-token
   difference energy on the patch grid) and the per-token (or per-channel) mean and
   std of the features themselves.
2. **Perceive**: an incoming image's descriptor is assigned to the prototypes by a
   linear discriminant (nearest centroid under the shared, shrunk within-class
   covariance, i.e. Mahalanobis distance) giving posteriors over the noise
   prototypes. Whether the image is noisy at all is a separate gate: by default
   its distance from the clean prototype against the distances of the clean
   reference images. Below the gate's margin nothing is changed: the features come
   back bit-identical.
3. **Calibrate**: the features move toward the clean prototype, guided by the
   identified noise prototype: ``shift`` removes the noise direction
   ``mu_noise - mu_clean``; ``restandardise`` maps the noisy prototype's
   per-token mean/std to the clean ones. The move is scaled by ``strength`` and by
   the assignment confidence (``soft``: every noise class weighted by its
   posterior; ``hard``: the best class only).

Options (``--calibrator-option KEY=VALUE``; strings are parsed), with defaults
chosen by ``python -m medrobust_plugins.imc.tune_pdc`` on the reference split:

========================  =======================================================
``noises``                comma-separated image noises to know (default: the image
                          noises of the ``imc-11`` preset)
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
                          ``both`` (both must agree)
``clean_quantile``        the novelty gate's margin: the share of clean reference
                          images it leaves untouched
``margin``                the posterior gate's margin
``seed``                  seed of the reference subsample and of the noises
========================  =======================================================
"""

from __future__ import annotations

import random
from typing import Any, Optional, Sequence

from medrobust.options import parse_options as _parse_typed

__all__ = ["PDC", "PDCWrapper", "MissingCapability", "DEFAULTS", "parse_options"]

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
    "margin": 0.5,
    "seed": 0,
}
_CHOICES = {
    "descriptor": ("stats", "spread", "pooled"),
    "classifier": ("lda", "cosine"),
    "assignment": ("soft", "hard"),
    "formula": ("shift", "restandardise", "none"),
    "stats": ("token", "channel"),
    "gate": ("both", "novelty", "posterior"),
}
CLEAN = "clean"


def _mahalanobis(z: Any, centre: Any, precision: Any) -> Any:
    """Squared Mahalanobis distances of rows ``z`` [B, K] from ``centre`` [K]."""
    import torch

    diff = z - centre
    return torch.einsum("bd,de,be->b", diff, precision, diff)


class MissingCapability(ValueError):
    """The model lacks a capability the calibrator needs."""


def parse_options(options: dict[str, Any]) -> dict[str, Any]:
    """Defaults updated with ``options``, strings parsed to the defaults' types."""
    out = _parse_typed("imc-pdc", options, DEFAULTS, _CHOICES)
    for key, top in (("strength", 2.0), ("margin", 1.0), ("shrinkage", 1.0), ("clean_quantile", 1.0),
                     ("min_separability", 1.0)):
        if not 0.0 <= out[key] <= top:
            raise ValueError(f"imc-pdc: option {key} must lie in [0, {top:g}], got {out[key]}")
    if out["temperature"] <= 0:
        raise ValueError(f"imc-pdc: option temperature must be positive, got {out['temperature']}")
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
            raise ValueError(f"imc-pdc: bands must look like 'mild:1-2,strong:3-5', got {text!r}")
        bands.append((name, levels))
    return bands


def require_feature_hook(model: Any, who: str = "imc-pdc") -> None:
    """Raise :class:`MissingCapability` unless ``model`` offers the feature hook."""
    if not (callable(getattr(model, "vision_features", None))
            and callable(getattr(model, "set_feature_transform", None))):
        name = getattr(model, "name", None) or type(model).__name__
        why = (getattr(model, "missing_capabilities", None) or {}).get("feature_hook")  # the model's own reason
        raise MissingCapability(
            f"{who} needs the feature-hook capability (vision_features + set_feature_transform); "
            f"model {name} does not offer it{f' ({why})' if why else ''}, so PDC cannot run; SMS can")


class PDC:
    """The PDC calibrator: ``fit`` prototypes, ``perceive`` noise, ``wrap`` a model."""

    def __init__(self, options: Optional[dict[str, Any]] = None) -> None:
        self.given = {k: v for k, v in dict(options or {}).items()}
        self.opts = parse_options(self.given)
        self.fitted_on = 0
        self.labels: list[str] = []
        self._fitted = False

    # -- fitting ------------------------------------------------------------
    def fit(self, model: Any, reference_samples: Sequence[Any]) -> None:
        """Encode clean reference images clean and under each noise band; keep prototypes."""
        require_feature_hook(model)
        from medrobust.manager import load_plugins
        from medrobust.noise.composition import image_to_tensor, tensor_to_image

        noises = load_plugins().noises
        for name in self.opts["_noises"]:
            noise = noises[name]
            if noise.modality != "image":
                raise ValueError(f"imc-pdc: noise {name!r} is a {noise.modality} noise; PDC knows "
                                 "image noises only")
        samples = list(reference_samples)
        if not samples:
            raise ValueError("imc-pdc: fit needs at least one reference sample")
        rng = random.Random(self.opts["seed"])
        if len(samples) > self.opts["max_reference"]:
            keep = sorted(rng.sample(range(len(samples)), self.opts["max_reference"]))
            samples = [samples[i] for i in keep]
        images = [s.image for s in samples]
        base = [image_to_tensor(im) for im in images]

        features: dict[str, Any] = {CLEAN: model.vision_features(images).float()}
        for name in self.opts["_noises"]:
            noise = noises[name]
            for band, levels in self.opts["_bands"]:
                # each image gets one severity of the band, cycling, and its own seed
                noisy = []
                for i in range(len(images)):
                    level = levels[i % len(levels)]
                    params = noise.params(level, rng.getrandbits(62))
                    noisy.append(tensor_to_image(noise.apply(base[i], params), images[i].mode))
                batch = noisy
                features[f"{name}:{band}"] = model.vision_features(batch).float()
        self._fit_features(features)
        self.fitted_on = len(samples)

    def _fit_features(self, features: dict[str, Any]) -> None:
        """Prototypes and the discriminant from ``{label: [N, T, D] features}``."""
        import torch

        self.labels = list(features)
        token_dims = (0,) if self.opts["stats"] == "token" else (0, 1)
        self.mu = torch.stack([f.mean(token_dims, keepdim=True)[0].expand_as(f[0]) for f in features.values()])
        self.sd = torch.stack([f.std(token_dims, keepdim=True)[0].expand_as(f[0])
                               for f in features.values()]).clamp_min(1e-6)
        self.pooled = torch.stack([f.mean((0, 1)) for f in features.values()])
        desc = [self.descriptor(f) for f in features.values()]
        allx = torch.cat(desc)
        self.d_mean = allx.mean(0)
        self.d_scale = allx.std(0).clamp_min(1e-6)
        z = [(d - self.d_mean) / self.d_scale for d in desc]
        self.centroids = torch.stack([x.mean(0) for x in z])
        within = torch.cat([x - x.mean(0) for x in z])
        cov = within.T @ within / max(1, within.shape[0] - len(z))
        p = cov.shape[0]
        lam = self.opts["shrinkage"]
        cov = (1 - lam) * cov + lam * torch.eye(p) * cov.diagonal().mean()
        self.precision = torch.linalg.inv(cov.double()).float()
        self._fitted = True
        # noise prototypes the encoder cannot tell from clean are merged into clean:
        # a prototype stays only if most of its reference images lie nearer to it
        # than to the clean prototype, out of sample (each half of the images
        # against centroids from the other half)
        clean = self.labels.index(CLEAN)
        n = z[clean].shape[0]
        halves = [(slice(0, n // 2), slice(n // 2, n)), (slice(n // 2, n), slice(0, n // 2))]
        keep, self.merged = [], {}
        for k, label in enumerate(self.labels):
            if k != clean:
                hits = []
                for test, train in halves if n >= 4 else [(slice(0, n), slice(0, n))]:
                    own = _mahalanobis(z[k][test], z[k][train].mean(0), self.precision)
                    other = _mahalanobis(z[k][test], z[clean][train].mean(0), self.precision)
                    hits.append(own < other)
                separable = float(torch.cat(hits).float().mean())
                if separable < self.opts["min_separability"]:
                    self.merged[label] = round(separable, 3)
                    continue
            keep.append(k)
        self.labels = [self.labels[k] for k in keep]
        self.centroids, self.mu, self.sd = self.centroids[keep], self.mu[keep], self.sd[keep]
        self.pooled = self.pooled[keep]
        z = [z[k] for k in keep]
        # the gate's threshold from out-of-sample distances: each half of the clean
        # reference images measured against the centroid of the other half
        zc = z[self.labels.index(CLEAN)]
        half = max(1, zc.shape[0] // 2)
        a, b = zc[:half], zc[half:] if zc.shape[0] > 1 else zc
        clean_d = torch.cat([_mahalanobis(a, b.mean(0), self.precision),
                             _mahalanobis(b, a.mean(0), self.precision)])
        self.clean_threshold = float(torch.quantile(clean_d, self.opts["clean_quantile"]))

    def _clean_distance_z(self, z: Any) -> Any:
        return _mahalanobis(z, self.centroids[self.labels.index(CLEAN)], self.precision)

    # -- perception ----------------------------------------------------------
    def descriptor(self, features: Any) -> Any:
        """Per-image statistics of token features ``[B, T, D]`` -> ``[B, K]``."""
        import torch

        f = features.float()
        parts = [] if self.opts["descriptor"] == "spread" else [f.mean(1)]
        if self.opts["descriptor"] in ("stats", "spread"):
            parts.append(f.std(1).clamp_min(1e-6).log())
            side = int(round(f.shape[1] ** 0.5))
            if side * side == f.shape[1]:
                grid = f.reshape(f.shape[0], side, side, f.shape[2])
                dx = (grid[:, :, 1:] - grid[:, :, :-1]).abs().mean((1, 2))
                dy = (grid[:, 1:] - grid[:, :-1]).abs().mean((1, 2))
                parts.append((dx + dy).clamp_min(1e-6).log())
        return torch.cat(parts, 1)

    def posteriors(self, features: Any) -> Any:
        """``[B, classes]`` posteriors over :attr:`labels` for features ``[B, T, D]``."""
        import torch

        if not self._fitted:
            raise RuntimeError("imc-pdc: call fit(model, reference_samples) before perceiving")
        z = (self.descriptor(features) - self.d_mean) / self.d_scale
        if self.opts["classifier"] == "lda":
            diff = z[:, None, :] - self.centroids[None]
            scores = -0.5 * torch.einsum("bkd,de,bke->bk", diff, self.precision, diff)
        else:
            scores = torch.nn.functional.cosine_similarity(z[:, None, :], self.centroids[None], dim=2)
            scores = scores * 10.0
        return torch.softmax(scores / self.opts["temperature"], dim=1)

    def gate(self, features: Any, post: Any = None) -> Any:
        """``[B]`` booleans: whether each image counts as noisy (calibration applies)."""
        if post is None:
            post = self.posteriors(features)
        clean = self.labels.index(CLEAN)
        noisy_post = ((1.0 - post[:, clean]) > self.opts["margin"]) & (post.argmax(1) != clean)
        if self.opts["gate"] == "posterior":
            return noisy_post
        z = (self.descriptor(features) - self.d_mean) / self.d_scale
        novel = self._clean_distance_z(z) > self.clean_threshold
        return novel & noisy_post if self.opts["gate"] == "both" else novel

    def _noise_weights(self, post: Any) -> Any:
        """Posteriors renormalised over the noise prototypes (clean column zero)."""
        w = post.clone()
        w[:, self.labels.index(CLEAN)] = 0.0
        return w / w.sum(1, keepdim=True).clamp_min(1e-12)

    def perceive(self, features: Any) -> list[tuple[str, float, bool]]:
        """For each image: (label, confidence, whether calibration applies).

        The label is ``clean`` when the gate says so, else the noise name (its
        severity bands summed); confidence is the gate's certainty for ``clean``
        (``P(clean)`` under the posterior gate, the share of clean reference images
        farther away under the novelty gate) or the noise's share of the posterior.
        """
        post = self.posteriors(features)
        noisy = self.gate(features, post)
        weights = self._noise_weights(post)
        out = []
        for row, is_noisy, p_row in zip(weights.tolist(), noisy.tolist(), post.tolist()):
            if not is_noisy:
                out.append((CLEAN, p_row[self.labels.index(CLEAN)], False))
                continue
            by_noise: dict[str, float] = {}
            for label, p in zip(self.labels, row):
                if label != CLEAN:
                    by_noise[label.split(":")[0]] = by_noise.get(label.split(":")[0], 0.0) + p
            best = max(by_noise, key=by_noise.__getitem__)
            out.append((best, by_noise[best], True))
        return out

    # -- calibration ---------------------------------------------------------
    def calibrate(self, features: Any) -> Any:
        """Features moved toward the clean prototype; unchanged (same values) where clean."""
        import torch

        post = self.posteriors(features)
        applied = self.gate(features, post)
        if self.opts["formula"] == "none" or not bool(applied.any()):
            return features
        weights = self._noise_weights(post)
        if self.opts["assignment"] == "hard":
            best = weights.argmax(1)
            hard = torch.zeros_like(weights)
            hard[torch.arange(len(best)), best] = 1.0
            weights = hard
        weights = weights * self.opts["strength"]
        clean = self.labels.index(CLEAN)
        f = features.float()
        mu_c, sd_c = self.mu[clean], self.sd[clean]
        delta = torch.zeros_like(f)
        for k in range(len(self.labels)):
            w = weights[:, k]
            if k == clean or not bool((w > 0).any()):
                continue
            if self.opts["formula"] == "shift":
                target = f - (self.mu[k] - mu_c)
            else:
                target = (f - self.mu[k]) / self.sd[k] * sd_c + mu_c
            delta = delta + w[:, None, None] * (target - f)
        out = features.clone()
        idx = applied.nonzero().flatten()
        out[idx] = (f[idx] + delta[idx]).to(features.dtype)
        return out

    # -- the contract --------------------------------------------------------
    def transform(self, features: Any, images: Sequence[Any] = ()) -> Any:
        """The feature transform installed in the model: ``fn(features, images)``."""
        return self.calibrate(features)

    def wrap(self, model: Any) -> "PDCWrapper":
        """A model answering through PDC."""
        require_feature_hook(model)
        if not self._fitted:
            raise RuntimeError("imc-pdc: call fit(model, reference_samples) before wrap(model)")
        return PDCWrapper(model, self)

    def describe(self) -> dict[str, Any]:
        params = {k: v for k, v in self.opts.items() if not k.startswith("_")}
        return {"name": "imc-pdc", "params": params, "fitted_on": self.fitted_on,
                "prototypes": list(self.labels), "merged_into_clean": dict(getattr(self, "merged", {}))}


class PDCWrapper:
    """The wrapped model: ``answer`` goes through the PDC feature transform."""

    def __init__(self, model: Any, pdc: PDC) -> None:
        self.model = model
        self.pdc = pdc

    def answer(self, samples: list[Any]) -> list[str]:
        self.model.set_feature_transform(self.pdc.transform)
        try:
            return self.model.answer(samples)
        finally:
            self.model.set_feature_transform(None)

    def vision_features(self, images: Sequence[Any]) -> Any:
        return self.model.vision_features(images)

    def set_feature_transform(self, fn: Any) -> None:
        self.model.set_feature_transform(fn)

    def identity(self) -> dict[str, Any]:
        ident = getattr(self.model, "identity", None)
        return dict(ident()) if callable(ident) else {"name": type(self.model).__name__}

    def __getattr__(self, name: str) -> Any:
        if name in ("generate", "score_text"):
            return getattr(self.model, name)
        raise AttributeError(name)
