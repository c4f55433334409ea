"""The feature-hook capability of the transformers-backed models (what IMC's PDC needs).

A forward pre-hook on the module whose first positional input is the vision
features (``FEATURE_MODULE``, e.g. ``"model.multi_modal_projector"``):
``vision_features(images)`` captures that input, ``set_feature_transform(fn)``
replaces it by ``fn(features, images)`` on every later call. A transform sees CPU
float32 ``[batch, tokens, dim]`` features (calibrators keep their statistics on the
CPU); its result is moved back to the model's device and dtype.

Extension points: ``FEATURE_MODULE``; ``image_feature_inputs(images)`` and
``run_vision(inputs)`` (what makes the vision path run; default: the image
processor, then ``model.get_image_features``); ``features_to_batch(features,
n_images)`` / ``features_from_batch(batch, like)`` for architectures whose hooked
input is not ``[batch, tokens, dim]`` (e.g. Qwen2-VL's flattened patches).
"""

from __future__ import annotations

import inspect
import operator
from typing import Any, Callable, ClassVar, Mapping, Optional, Sequence

import medrobust

from ._checkpoint import CheckpointError

__all__ = ["FeatureHookMixin"]


class FeatureHookMixin:
    """The feature-hook capability: a forward pre-hook on ``FEATURE_MODULE``.

    Mix in before :class:`~medrobust_plugins.hf._base.HFVisionLanguageModel`:
    ``class MyModel(FeatureHookMixin, HFVisionLanguageModel)``. A class whose
    hook point depends on the checkpoint overrides :meth:`feature_hook_unavailable`;
    the model's ``capabilities()`` declares what it returns.
    """

    FEATURE_MODULE: ClassVar[str] = "model.multi_modal_projector"
    _transform: Optional[Callable[[Any, Sequence[Any]], Any]] = None
    _capture: Optional[list] = None

    def feature_hook_unavailable(self) -> Optional[str]:
        """Why this model has no feature hook; ``None``: it has one (at ``FEATURE_MODULE``)."""
        return None

    def _require_hook(self) -> None:
        why = self.feature_hook_unavailable()
        if why is not None:
            raise medrobust.MissingCapability(f"{self.PLUGIN}: no feature hook: {why}")

    def install_hooks(self) -> None:
        """Register the pre-hook on ``FEATURE_MODULE`` (nothing where the model has no hook point)."""
        if self.feature_hook_unavailable() is not None:
            return
        try:
            module = operator.attrgetter(self.FEATURE_MODULE)(self.model)
        except AttributeError:
            raise CheckpointError(f"{self.PLUGIN}: {type(self.model).__name__} has no module "
                                  f"{self.FEATURE_MODULE!r} to hook the vision features at") from None
        self._transform, self._capture = None, None
        module.register_forward_pre_hook(self._pre_hook, with_kwargs=True)

    def _pre_hook(self, module: Any, args: tuple, kwargs: dict) -> Optional[tuple]:
        if not args:
            return None
        features = args[0]
        if self._capture is not None:
            self._capture.append(features.detach())
        if self._transform is None:
            return None
        images = self._images if self._images is not None else []
        batch = self.features_to_batch(features.detach().float().cpu(), len(images))
        out = self.features_from_batch(self._transform(batch, images), features)
        return (out.to(features.device, features.dtype),) + tuple(args[1:]), kwargs

    def features_to_batch(self, features: Any, n_images: int) -> Any:
        """The hooked input as ``[batch, tokens, dim]`` (identity for LLaVA's projector)."""
        return features

    def features_from_batch(self, batch: Any, like: Any) -> Any:
        """Inverse of :meth:`features_to_batch`: back to the hooked input's shape."""
        return batch

    def set_feature_transform(self, fn: Optional[Callable[[Any, Sequence[Any]], Any]]) -> None:
        """Install ``fn(features, images) -> features`` before the hooked module (``None`` removes)."""
        if fn is not None:
            self._require_hook()
        self._transform = fn

    def image_feature_inputs(self, images: list[Any]) -> dict[str, Any]:
        """Tensors the vision path needs for ``images`` (default: the image processor's output)."""
        return dict(self.processor.image_processor(images=images, return_tensors="pt"))

    def run_vision(self, inputs: Mapping[str, Any]) -> None:
        """Run the vision path so the hook sees the features (default: ``model.get_image_features``)."""
        fn = self.model.get_image_features
        accepted = inspect.signature(fn).parameters
        fn(**{k: v for k, v in inputs.items() if k in accepted})

    def vision_features(self, images: Sequence[Any]) -> Any:
        """What the hooked module receives, untransformed: CPU float32 ``[batch, tokens, dim]``."""
        self._require_hook()
        torch = self._torch
        images = list(images)
        feats = []
        saved, self._transform = self._transform, None
        try:
            with torch.inference_mode():
                for i in self._chunks(len(images)):
                    imgs = [self.prepare_image(im) for im in images[i:i + self.batch_size]]
                    self._capture = []
                    self.run_vision(self._to_device(self.image_feature_inputs(imgs)))
                    if len(self._capture) != 1:
                        raise RuntimeError(f"{self.PLUGIN}: the vision path reached {self.FEATURE_MODULE} "
                                           f"{len(self._capture)} times for one batch, expected once")
                    feats.append(self.features_to_batch(self._capture[0].float().cpu(), len(imgs)))
        finally:
            self._capture = None
            self._transform = saved
        if not feats:
            raise ValueError("vision_features: no images given")
        return torch.cat(feats)
