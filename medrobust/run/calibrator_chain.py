"""Calibrator chains: ``--calibrator spell-correct+median-denoise`` runs one calibrator per modality.

A chain ``A+B`` is resolved by the calibrator registry from its members' names:

* **fit**: the members are fitted one after another, left to right, each on the model itself
  with the same reference samples and noise registry (a member never fits on another member's
  wrapper, whose inputs it was not meant for);
* **wrap**: ``A`` wraps the model, then ``B`` wraps ``A``'s wrapper (as ``imc`` wraps PDC, then
  SMS): a sample meets ``B``'s change first and ``A``'s nearest the model. A member that needs a
  capability of the model it wraps (``imc-sms`` needs token scoring, which a baseline's wrapper does
  not pass on) therefore goes left of a baseline;
* **options**: ``--calibrator-option MEMBER.KEY=VALUE`` (``median-denoise.kernel=5``);
* **record**: ``describe()`` names the chain, its order and each member's own ``describe()``.

Members must change different modalities: each declares which it changes as data, a
``modalities`` attribute (``("image",)``, ``("text",)``, ``("image", "text")``) on its factory.
Two members on the same modality are refused: every member is fitted on clean reference inputs
as the model sees them, so a second image (or text) calibrator would act on inputs the first one
had already changed, a distribution it was never fitted on (PDC's prototypes are of unfiltered
images; a spelling lexicon scores unrewritten questions), and the A/B record could not say which
of the two won or lost what. ``imc`` changes both, so it chains with nothing; its parts
``imc-pdc`` and ``imc-sms`` do.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

from ..errors import MissingCapability, OptionError, UnknownNameError

__all__ = ["SEPARATOR", "CalibratorChain", "ChainFactory", "resolve_chain"]

SEPARATOR = "+"
_MODALITIES = ("image", "text")


def declared_modalities(name: str, factory: Any) -> tuple[str, ...]:
    """The modalities a calibrator factory declares it changes.

    Raises:
        OptionError: When it declares none, or something other than image and text.
    """
    declared = getattr(factory, "modalities", None)
    if isinstance(declared, str):
        declared = (declared,)
    if not declared or not isinstance(declared, (tuple, list, set, frozenset)) or \
            not set(declared) <= set(_MODALITIES):
        raise OptionError(f"calibrator {name!r} cannot be chained: its factory declares no modalities it changes "
                          f"(a `modalities = (\"image\",)`, `(\"text\",)` or `(\"image\", \"text\")` attribute); "
                          f"got {declared!r}")
    return tuple(m for m in _MODALITIES if m in set(declared))


def resolve_chain(name: str, lookup: Callable[[str], Any], known: Sequence[str]) -> "ChainFactory":
    """The factory of the chain ``name`` (``"spell-correct+median-denoise"``).

    Args:
        name: Member names joined by ``+``.
        lookup: Name -> factory of a registered (single) calibrator.
        known: The registered calibrators, for the messages.

    Raises:
        UnknownNameError: A member no plugin registered.
        OptionError: An empty member, ``none`` as a member, or two members on the same modality.
    """
    names = [part.strip() for part in name.split(SEPARATOR)]
    if any(not part for part in names):
        raise OptionError(f"calibrator chain {name!r} has an empty member; write members joined by '+', "
                          f"e.g. spell-correct+median-denoise")
    if "none" in names:
        raise OptionError(f"calibrator chain {name!r}: 'none' is the identity, leave it out of the chain")
    factories = {}
    for part in names:
        if part in factories:
            raise OptionError(f"calibrator chain {name!r} names {part!r} twice")
        try:
            factories[part] = lookup(part)
        except KeyError:
            raise UnknownNameError(f"unknown calibrator {part!r} in chain {name!r}; registered calibrators: "
                                   f"{', '.join(sorted(known)) or '(none)'}") from None
    owner: dict[str, str] = {}
    for part, factory in factories.items():
        for modality in declared_modalities(part, factory):
            if modality in owner:
                first = owner[modality]
                says = {n: ", ".join(declared_modalities(n, factories[n])) for n in (first, part)}
                raise OptionError(
                    f"calibrator chain {name!r}: {first!r} ({says[first]}) and {part!r} ({says[part]}) both "
                    f"change the {modality}; a chain takes one calibrator per modality (each is fitted on the "
                    f"inputs as the model sees them, not as another calibrator left them), e.g. "
                    f"spell-correct+median-denoise")
            owner[modality] = part
    return ChainFactory(SEPARATOR.join(names), factories)


class ChainFactory:
    """A registry entry for a chain: called with the run's calibrator options, builds the chain."""

    def __init__(self, name: str, members: Mapping[str, Any]) -> None:
        self.name = name
        self.members = dict(members)
        self.modalities = tuple(m for m in _MODALITIES
                                if any(m in declared_modalities(n, f) for n, f in self.members.items()))
        declared = [getattr(f, "OPTIONS", None) for f in self.members.values()]
        self.OPTIONS: Optional[tuple[str, ...]] = None
        """Every member's declared options, prefixed ``MEMBER.``; None (unchecked) unless all declare."""
        if all(d is not None and not isinstance(d, str) for d in declared):
            self.OPTIONS = tuple(f"{n}.{k}" for n, d in zip(self.members, declared) for k in map(str, d))

    def __call__(self, options: Optional[Mapping[str, Any]] = None) -> "CalibratorChain":
        return CalibratorChain(self.name, self.members, dict(options or {}))


def _split_options(name: str, members: Sequence[str], options: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    parts: dict[str, dict[str, Any]] = {member: {} for member in members}
    for key, value in options.items():
        member = next((m for m in sorted(members, key=len, reverse=True) if key.startswith(m + ".")), None)
        if member is None:
            raise OptionError(f"--calibrator-option {key}: calibrator chain {name!r} routes options by member, "
                              f"prefix the key with one of {', '.join(m + '.' for m in members)} "
                              f"(e.g. {members[-1]}.KEY=VALUE)")
        parts[member][key[len(member) + 1:]] = value
    return parts


class CalibratorChain:
    """Calibrators of different modalities, fitted and wrapped in the order named (see the module)."""

    def __init__(self, name: str, factories: Mapping[str, Any], options: Mapping[str, Any]) -> None:
        self.name = name
        parts = _split_options(name, list(factories), options)
        self.members = {member: factory(parts[member]) for member, factory in factories.items()}
        neutral = [f"{m}.{k}" for m, c in self.members.items()
                   for k in (getattr(c, "answer_neutral_options", ()) or ())]
        self.answer_neutral_options = tuple(neutral)

    def fit(self, model: Any, reference_samples: Sequence[Any], noises: Mapping[str, Any]) -> None:
        """Fit every member, left to right, each on ``model`` itself."""
        samples = list(reference_samples)
        for member in self.members.values():
            member.fit(model, samples, noises=noises)

    def wrap(self, model: Any) -> Any:
        """The first member wraps ``model``, each next member wraps the previous wrapper."""
        names = list(self.members)
        for i, (member_name, member) in enumerate(self.members.items()):
            try:
                model = member.wrap(model)
            except MissingCapability as exc:
                hint = (f"; in a chain, {member_name!r} wraps what {', '.join(names[:i])} made of the model: "
                        f"name {member_name!r} first" if i else "")
                raise MissingCapability(f"{exc}{hint}") from None
        return model

    def describe(self) -> dict[str, Any]:
        """The chain's name and order, and each member's own description."""
        members = []
        for member_name, member in self.members.items():
            describe = getattr(member, "describe", None)
            described = dict(describe()) if callable(describe) else {}
            members.append({**described, "name": member_name})
        return {"name": self.name, "chain": members,
                "order": "fitted left to right on the model itself; the first member wraps the model, "
                         "each next one wraps the previous wrapper"}
