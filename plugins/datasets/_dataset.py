"""A dataset read from a local release: splits, the reference subset, images, describe and digest."""

from __future__ import annotations

import hashlib
import os
import random
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Optional, Protocol, Sequence

from PIL import Image

from medrobust import DatasetError, Sample, image_digest, parse_options

from ._images import MAX_IMAGE_BYTES, ImageUnreadable, decode
from ._records import Problem, Record

__all__ = ["Release", "LocalDataset", "dataset_options", "COMMON_DEFAULTS"]

#: options every local dataset accepts (``--dataset-option KEY=VALUE``)
COMMON_DEFAULTS: dict[str, Any] = {
    "reference_size": 1000,       # at most this many reference samples (seeded subset); 0 = all
    "reference_images": "disjoint",  # drop reference records whose image is also in test ("any": keep)
    "max_image_bytes": MAX_IMAGE_BYTES,  # an image file larger than this is refused unread; 0 = no cap
    "max_question_chars": 2000,   # a longer question skips its record (listed); 0 = no cap
    "max_answer_chars": 4000,     # a longer reference answer skips its record (listed); 0 = no cap
}
COMMON_CHOICES: dict[str, Sequence[Any]] = {"reference_images": ("disjoint", "any")}
_SHOWN_PROBLEMS = 100
_CAPS = ("max_image_bytes", "max_question_chars", "max_answer_chars")
OVER_THE_CAP = ("a record whose question or reference answer is longer than max_question_chars / max_answer_chars "
                "characters, or whose image file is larger than max_image_bytes, is skipped and listed under "
                "'skipped', never truncated")
"""What the dataset's description says about its caps."""


class Release(Protocol):
    """One detected release format of a dataset, able to read its splits' annotations."""

    format: str
    """Release format detected, e.g. ``"osf-json"``, ``"hf-parquet"``."""
    root: Path
    splits: tuple[str, ...]
    """The release's own split names."""
    test_split: str
    reference_split: str
    notes: dict[str, Any]
    """Facts for describe() (filters applied, files read)."""

    def read(self, split: str, problems: list[Problem]) -> list[Record]:
        """Validated records of ``split``; a bad record is skipped with a problem appended."""


def dataset_options(name: str, options: Mapping[str, Any], defaults: Mapping[str, Any],
                    choices: Optional[Mapping[str, Sequence[Any]]] = None) -> tuple[Path, int, dict[str, Any]]:
    """The root path, the seed and the typed options of a local dataset.

    Raises:
        DatasetError: No path, a path that does not exist, or an unknown or ill-typed option.
    """
    options = dict(options)
    path, seed = options.pop("path", None), int(options.pop("seed", 0) or 0)
    if not path:
        raise DatasetError(f"dataset {name!r} reads a local copy of its release: give its path as "
                           f"--dataset {name}:/path/to/{name}")
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetError(f"dataset {name!r}: path {root} does not exist")
    try:
        parsed = parse_options(name, options, {**COMMON_DEFAULTS, **defaults},
                               {**COMMON_CHOICES, **(choices or {})})
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    if parsed["reference_size"] < 0:
        raise DatasetError(f"{name}: option reference_size must be 0 (all) or more, got {parsed['reference_size']}")
    for cap in _CAPS:
        if parsed[cap] < 0:
            raise DatasetError(f"{name}: option {cap} must be 0 (no cap) or more, got {parsed[cap]}")
    return root, seed, parsed


class LocalDataset:
    """Samples of a local release, loaded split by split, images decoded and validated once.

    Splits: ``test`` (the release's test split, for evaluation), ``reference`` (the
    release's training split, for fitting calibrators: never sharing an image with
    test unless ``reference_images=any``, and capped at ``reference_size`` samples
    by a seeded subset), and the release's own split names. A split's images are
    decoded when the split is first asked for (each image file once, shared by its
    questions), so a truncated file is found at load time, not during a run; a
    record whose image cannot be decoded (or is not a regular file, or is over
    ``max_image_bytes``) is skipped and listed by :meth:`describe`, and so is one
    whose question or answer is over ``max_question_chars`` / ``max_answer_chars``.

    Args:
        name: Registered dataset name; sample ids start with it.
        release: The detected release.
        options: Parsed options (see :data:`COMMON_DEFAULTS`).
        seed: Seed of the reference subset.
    """

    def __init__(self, name: str, release: Release, options: dict[str, Any], seed: int = 0) -> None:
        self.name = name
        self.release = release
        self.options = options
        self.seed = seed
        self.splits: tuple[str, ...] = tuple(dict.fromkeys(("test", "reference", *release.splits)))
        self._records: dict[str, list[Record]] = {}
        self._problems: list[Problem] = []
        self._images: dict[str, Any] = {}
        self._samples: dict[str, list[Sample]] = {}
        self._reference: dict[str, int] = {}

    # -- records -----------------------------------------------------------
    def records(self, split: str) -> list[Record]:
        """Validated annotations of a release split (images not decoded)."""
        if split not in self.release.splits:
            raise ValueError(f"{self.name} has no split {split!r}; splits: {', '.join(self.splits)}")
        if split not in self._records:
            self._records[split] = self._within_caps(self.release.read(split, self._problems))
        return self._records[split]

    def _within_caps(self, records: list[Record]) -> list[Record]:
        """``records`` without those whose question or answer is over its cap (each listed as a problem)."""
        kept = []
        for r in records:
            over = [(field, len(text), self.options[option]) for field, text, option in
                    (("question", r.question, "max_question_chars"), ("answer", r.answer, "max_answer_chars"))
                    if self.options[option] and len(text) > self.options[option]]
            if not over:
                kept.append(r)
                continue
            field, length, cap = over[0]
            option = f"max_{field}_chars"
            self._problems.append(Problem(r.file, r.where, field, f"is {length} characters long, over the cap of "
                                          f"{cap}; the record is skipped (raise the cap with --dataset-option "
                                          f"{option}=N, 0 for none)"))
        return kept

    def _reference_records(self) -> list[Record]:
        if self.release.reference_split not in self.release.splits:
            hint = getattr(self.release, "reference_hint", "")
            raise DatasetError(f"{self.name}: {self.release.root} has no {self.release.reference_split!r} split "
                               f"to fit calibrators on" + (f"; {hint}" if hint else ""))
        records = self.records(self.release.reference_split)
        candidates = len(records)
        if self.options["reference_images"] == "disjoint":
            test_images = {r.image.key for r in self.records(self.release.test_split)}
            records = [r for r in records if r.image.key not in test_images]
        shared = candidates - len(records)
        cap = self.options["reference_size"]
        if cap and len(records) > cap:
            keep = sorted(random.Random(self.seed).sample(range(len(records)), cap))
            records = [records[i] for i in keep]
        self._reference = {"candidates": candidates, "excluded_sharing_a_test_image": shared,
                           "selected": len(records)}
        if not records and candidates:
            raise DatasetError(
                f"{self.name}: the reference split is empty: all {candidates} records of "
                f"{self.release.reference_split!r} show an image that is also in {self.release.test_split!r}; "
                f"use --dataset-option reference_images=any to fit calibrators on them anyway")
        return records

    # -- samples -----------------------------------------------------------
    def samples(self, split: str) -> list[Sample]:
        """The samples of ``test``, ``reference`` or a release split (decoded once, then cached)."""
        if split not in self.splits:
            raise ValueError(f"{self.name} has no split {split!r}; splits: {', '.join(self.splits)}")
        if split not in self._samples:
            if split == "reference":
                records = self._reference_records()
            else:
                records = self.records(self.release.test_split if split == "test" else split)
            self._samples[split] = self._materialize(split, records)
        return list(self._samples[split])

    def _image(self, record: Record) -> Image.Image:
        cached = self._images.get(record.image.key)
        if cached is None:
            cached = self._images[record.image.key] = self._decoded(record)
        if isinstance(cached, ImageUnreadable):
            raise cached
        return cached

    def _decode_all(self, records: list[Record]) -> None:
        """Decode the images of ``records`` not decoded yet, on a few threads (Pillow's decoders release
        the GIL: at 1024 px a PNG takes tens of milliseconds, seconds over a split)."""
        todo = list({r.image.key: r for r in records if r.image.key not in self._images}.values())
        if len(todo) < 2:
            return
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="decode") as pool:
            for record, image in zip(todo, pool.map(self._decoded, todo)):
                self._images[record.image.key] = image

    def _decoded(self, record: Record) -> "Image.Image | ImageUnreadable":
        try:
            return decode(record.image, self.options["max_image_bytes"])
        except ImageUnreadable as exc:
            return exc

    def _materialize(self, split: str, records: list[Record]) -> list[Sample]:
        samples, skipped = [], []
        self._decode_all(records)
        for r in records:
            try:
                image = self._image(r)
            except ImageUnreadable as exc:
                label = r.image.label if len(r.image.label) <= 240 else r.image.label[:237] + "..."
                skipped.append(Problem(r.file, r.where, r.image_field, f"{label}: {exc}"))
                continue
            samples.append(Sample(r.id, image, r.question, r.answer, r.answer_type,  # type: ignore[arg-type]
                                  dict(r.metadata)))
        known = set(self._problems)
        self._problems += [p for p in skipped if p not in known]
        if not samples:
            found = [str(p) for p in self._problems[:5]]
            raise DatasetError(f"{self.name}: split {split!r} has no usable record in {self.release.root}"
                               + (": " + "; ".join(found) if found else ""))
        if skipped:
            warnings.warn(f"{self.name}: skipped {len(skipped)} record(s) of split {split!r} whose image is "
                          f"unusable (first: {skipped[0]}); describe() lists them", stacklevel=3)
        return samples

    # -- description -------------------------------------------------------
    def digest(self, split: str = "test") -> str:
        """sha256 over every sample's id, image pixels, question, answer and answer type."""
        h = hashlib.sha256()
        for s in self.samples(split):
            for part in (s.id, image_digest(s.image), s.question, s.answer, s.answer_type):
                h.update(part.encode())
                h.update(b"\0")
        return h.hexdigest()

    def describe(self) -> dict[str, Any]:
        """Name, release format, options, caps, counts per split and answer type, skipped records.

        Reads the annotations of every release split (images are not decoded for this). It names
        no path of this machine (the certificate digests it: the same data elsewhere must describe
        itself the same); files are named relative to the dataset folder.
        """
        splits = {}
        for split in self.release.splits:
            records = self.records(split)
            closed = sum(r.answer_type == "closed" for r in records)
            splits[split] = {"records": len(records), "closed": closed, "open": len(records) - closed}
        loaded = {name: len(samples) for name, samples in self._samples.items()}
        return {
            "name": self.name,
            "format": self.release.format,
            "options": dict(self.options),
            "over_the_cap": OVER_THE_CAP,
            "seed": self.seed,
            "splits": splits,
            "test_split": self.release.test_split,
            "reference_split": self.release.reference_split,
            "reference": dict(self._reference),
            "samples_loaded": loaded,
            **self.release.notes,
            "skipped": {"count": len(self._problems),
                        "problems": [p.to_json() for p in self._problems[:_SHOWN_PROBLEMS]]},
        }
