"""PDC's prototypes: class statistics of vision features, and how an image is assigned to them.

:class:`Prototypes` is built from ``{label: [N, T, D] features}`` (``clean`` and one
``noise:band`` label per known noise and severity band) and answers, for new
features: the descriptor, the posteriors over the prototypes, whether the image
counts as noisy (the gate), and the features moved toward the clean prototype.
The options are those parsed by :func:`medrobust_plugins.imc.pdc.parse_options`.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["Prototypes", "CLEAN", "descriptor"]

CLEAN = "clean"


def _mahalanobis(z: Any, centre: Any, precision: Any) -> Any:
    """Squared Mahalanobis distances of rows ``z`` [B, K] from ``centre`` [K]."""
    import torch

    diff = z - centre
    return torch.einsum("bd,de,be->b", diff, precision, diff)


def _discriminant(desc: list[Any], shrinkage: float) -> tuple[Any, Any, Any, Any, Any]:
    """Standardisation, class centroids, the shrunk shared precision of descriptors (one per class),
    and the discriminant subspace: ``z @ V`` are coordinates along the directions that separate the
    classes (reduced-rank LDA: eigenvectors of ``W^-1 B``, whitened by the within-class covariance ``W``)."""
    import torch

    allx = torch.cat(desc)
    d_mean = allx.mean(0)
    d_scale = allx.std(0).clamp_min(1e-6)
    z = [(d - d_mean) / d_scale for d in desc]
    centroids = torch.stack([x.mean(0) for x in z])
    within = torch.cat([x - x.mean(0) for x in z])
    cov = within.T @ within / max(1, within.shape[0] - len(z))
    cov = (1 - shrinkage) * cov + shrinkage * torch.eye(cov.shape[0]) * cov.diagonal().mean()
    spread = (centroids - centroids.mean(0)).double()
    between = spread.T @ spread / len(desc)
    lower_inv = torch.linalg.inv(torch.linalg.cholesky(cov.double()))
    _, vectors = torch.linalg.eigh(lower_inv @ between @ lower_inv.T)
    rank = max(1, min(len(desc) - 1, cov.shape[0]))
    subspace = (lower_inv.T @ vectors[:, -rank:]).float()
    return d_mean, d_scale, centroids, torch.linalg.inv(cov.double()).float(), subspace


def descriptor(features: Any, kind: str) -> Any:
    """Per-image statistics of token features ``[B, T, D]`` -> ``[B, K]``.

    ``kind``: ``stats`` (token mean, log token std, log neighbour-token difference on
    the patch grid), ``spread`` (the two spread statistics) or ``pooled`` (token mean).
    """
    import torch

    f = features.float()
    parts = [] if kind == "spread" else [f.mean(1)]
    if kind in ("stats", "spread"):
        parts.append(f.std(1).clamp_min(1e-6).log())
        side = int(round(f.shape[1] ** 0.5))
        if side * side == f.shape[1]:
            grid = f.reshape(f.shape[0], side, side, f.shape[2])
            dx = (grid[:, :, 1:] - grid[:, :, :-1]).abs().mean((1, 2))
            dy = (grid[:, 1:] - grid[:, :-1]).abs().mean((1, 2))
            parts.append((dx + dy).clamp_min(1e-6).log())
    return torch.cat(parts, 1)


class Prototypes:
    """Prototypes and the discriminant, fitted from ``{label: [N, T, D] features}``.

    Attributes:
        labels: The prototypes kept, ``clean`` first.
        merged: Noise prototypes merged into clean (the encoder cannot tell them apart),
            with the share of their reference images that lay nearer to them.
        clean_threshold: The novelty gate's distance threshold, fitted out of sample (cross-fitting).
        clean_untouched: The share of clean images the gate states it leaves untouched, measured
            on held-out folds of the reference images.
    """

    def __init__(self, features: Mapping[str, Any], opts: Mapping[str, Any]) -> None:
        import torch

        self.opts = opts
        self.labels = list(features)
        token_dims = (0,) if opts["stats"] == "token" else (0, 1)
        self.mu = torch.stack([f.mean(token_dims, keepdim=True)[0].expand_as(f[0]) for f in features.values()])
        self.sd = torch.stack([f.std(token_dims, keepdim=True)[0].expand_as(f[0])
                               for f in features.values()]).clamp_min(1e-6)
        self.pooled = torch.stack([f.mean((0, 1)) for f in features.values()])
        desc = [self.descriptor(f) for f in features.values()]
        self.d_mean, self.d_scale, centroids, self.precision, self.subspace = _discriminant(desc, opts["shrinkage"])
        z = [(d - self.d_mean) / self.d_scale for d in desc]
        # noise prototypes the encoder cannot tell from clean are merged into clean:
        # a prototype stays only if most of its reference images lie nearer to it
        # than to the clean prototype, out of sample (each half of the images
        # against centroids from the other half)
        clean = self.labels.index(CLEAN)
        n = z[clean].shape[0]
        halves = [(slice(0, n // 2), slice(n // 2, n)), (slice(n // 2, n), slice(0, n // 2))]
        keep: list[int] = []
        self.merged: dict[str, float] = {}
        for k, label in enumerate(self.labels):
            if k != clean:
                hits = []
                for test, train in halves if n >= 4 else [(slice(0, n), slice(0, n))]:
                    own = _mahalanobis(z[k][test], z[k][train].mean(0), self.precision)
                    other = _mahalanobis(z[k][test], z[clean][train].mean(0), self.precision)
                    hits.append(own < other)
                separable = float(torch.cat(hits).float().mean())
                if separable < opts["min_separability"]:
                    self.merged[label] = round(separable, 3)
                    continue
            keep.append(k)
        self.labels = [self.labels[k] for k in keep]
        self.centroids, self.mu, self.sd = centroids[keep], self.mu[keep], self.sd[keep]
        self.pooled = self.pooled[keep]
        self._fit_gate(desc, keep, clean)

    def _fit_gate(self, desc: list[Any], keep: list[int], clean: int) -> None:
        """The novelty threshold and the gate's stated clean share, by cross-fitting.

        The reference images are cut into ``gate_folds`` folds; for each fold the whole
        discriminant (standardisation, covariance, centroids) is fitted on the other folds
        and the held-out fold's clean images are measured against it. The threshold is the
        ``k``-th smallest pooled held-out distance, ``k = ceil((n + 1) q)`` (as split
        conformal prediction takes it), so that at least ``q = clean_quantile`` of clean
        images the prototypes never saw stay below it. The stated share
        (:attr:`clean_untouched`) is what the whole gate (novelty and posterior parts, as
        option ``gate`` combines them) left untouched among those held-out images.
        """
        import math

        import torch

        n = desc[clean].shape[0]
        folds = max(2, min(int(self.opts["gate_folds"]), n)) if n >= 2 else 1
        distances, noisy_post = [], []
        for k in range(folds):
            held = torch.arange(n) % folds == k if folds > 1 else torch.ones(n, dtype=torch.bool)
            train = ~held if folds > 1 else held
            d_mean, d_scale, centroids, precision, subspace = _discriminant([d[train] for d in desc],
                                                                            self.opts["shrinkage"])
            z = (desc[clean][held] - d_mean) / d_scale
            distances.append(self._novelty(z, centroids[clean], precision, subspace))
            noisy_post.append(self._noisy_posterior(z, centroids[keep], precision))
        pooled = torch.cat(distances)
        q = self.opts["clean_quantile"]
        rank = min(len(pooled), max(1, math.ceil((len(pooled) + 1) * q)))
        self.clean_threshold = float(pooled.sort().values[rank - 1]) if q < 1.0 else float("inf")
        self.gate_folds = folds
        gated = self._combine(pooled > self.clean_threshold, torch.cat(noisy_post))
        self.clean_untouched = float(1.0 - gated.float().mean())
        """Share of held-out clean reference images the gate left untouched (its stated share)."""

    def _noisy_posterior(self, z: Any, centroids: Any, precision: Any) -> Any:
        """The posterior half of the gate for standardised descriptors ``z``."""
        import torch

        if self.opts["classifier"] == "lda":
            diff = z[:, None, :] - centroids[None]
            scores = -0.5 * torch.einsum("bkd,de,bke->bk", diff, precision, diff)
        else:
            scores = torch.nn.functional.cosine_similarity(z[:, None, :], centroids[None], dim=2) * 10.0
        post = torch.softmax(scores / self.opts["temperature"], dim=1)
        clean = self.labels.index(CLEAN)
        return ((1.0 - post[:, clean]) > self.opts["margin"]) & (post.argmax(1) != clean)

    def _combine(self, novel: Any, noisy_post: Any) -> Any:
        if self.opts["gate"] == "off":
            return novel | True
        if self.opts["gate"] == "posterior":
            return noisy_post
        return novel & noisy_post if self.opts["gate"] == "both" else novel

    def _novelty(self, z: Any, centre: Any, precision: Any, subspace: Any) -> Any:
        """The novelty distance from the clean centroid: in the discriminant subspace (option
        ``gate_space=discriminant``) or over the whole descriptor (``full``), squared Mahalanobis."""
        if self.opts["gate_space"] == "full":
            return _mahalanobis(z, centre, precision)
        return ((z - centre) @ subspace).pow(2).sum(1)

    def _clean_distance_z(self, z: Any) -> Any:
        return self._novelty(z, self.centroids[self.labels.index(CLEAN)], self.precision, self.subspace)

    # -- perception ----------------------------------------------------------
    def descriptor(self, features: Any) -> Any:
        """Per-image statistics of token features ``[B, T, D]`` -> ``[B, K]`` (option ``descriptor``)."""
        return descriptor(features, self.opts["descriptor"])

    def posteriors(self, features: Any) -> Any:
        """``[B, classes]`` posteriors over :attr:`labels` for features ``[B, T, D]``."""
        import torch

        z = (self.descriptor(features) - self.d_mean) / self.d_scale
        if self.opts["classifier"] == "lda":
            diff = z[:, None, :] - self.centroids[None]
            scores = -0.5 * torch.einsum("bkd,de,bke->bk", diff, self.precision, diff)
        else:
            scores = torch.nn.functional.cosine_similarity(z[:, None, :], self.centroids[None], dim=2) * 10.0
        return torch.softmax(scores / self.opts["temperature"], dim=1)

    def gate(self, features: Any, post: Any = None) -> Any:
        """``[B]`` booleans: whether each image counts as noisy (calibration applies)."""
        if post is None:
            post = self.posteriors(features)
        clean = self.labels.index(CLEAN)
        noisy_post = ((1.0 - post[:, clean]) > self.opts["margin"]) & (post.argmax(1) != clean)
        z = (self.descriptor(features) - self.d_mean) / self.d_scale
        return self._combine(self._clean_distance_z(z) > self.clean_threshold, noisy_post)

    def noise_weights(self, post: Any) -> Any:
        """Posteriors renormalised over the noise prototypes (clean column zero)."""
        w = post.clone()
        w[:, self.labels.index(CLEAN)] = 0.0
        return w / w.sum(1, keepdim=True).clamp_min(1e-12)

    def perceive(self, features: Any) -> list[tuple[str, float, bool]]:
        """For each image: (label, confidence, whether calibration applies); see ``PDC.perceive``."""
        post = self.posteriors(features)
        noisy = self.gate(features, post)
        weights = self.noise_weights(post)
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
        weights = self.noise_weights(post)
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
