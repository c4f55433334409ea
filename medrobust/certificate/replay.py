"""``medrobust replay CERT --case ID``: rebuild a failure case's noisy inputs and re-ask the model.

The run is rebuilt from what the certificate states: the model, calibrator and
dataset with their options and paths, the seed and severity scale, and the
case's composition. Each example's noisy image and question are rebuilt and
compared bit for bit with the sha256 recorded in the certificate; then the
model is asked again and its answers are shown beside the recorded ones. The
examples go to the model as one batch of their own, not in the run's batches, so
a model whose answers depend on the rest of its batch (padding, batch
statistics) may answer differently; ``replay_command`` re-evaluates the whole run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from .._canonical import canonical_json, image_digest, text_digest
from ..errors import OptionError, PluginError, ReplayError
from ..noise import AppliedNoise, Composition
from ..noise.batch import apply_composition_batch
from ..run.context import RunContext
from ..run.options import RunOptions, options_from_json
from ..run.plugins import load_plugins
from .record import MACHINE_PATHS

__all__ = ["ExampleReplay", "find_case", "load_extra_plugins", "replay_case"]


@dataclasses.dataclass
class ExampleReplay:
    """One example of a case, rebuilt and asked again."""

    sample_id: str
    image_sha256: tuple[str, str]
    """(recorded, rebuilt) sha256 of the noisy image (mode, size and pixels)."""
    question_sha256: tuple[str, str]
    """(recorded, rebuilt) sha256 of the noisy question's UTF-8 bytes."""
    records_match: bool
    """The rebuilt applied-noise records (resolved params and seeds) equal the recorded ones."""
    answer: tuple[Optional[str], Optional[str]]
    """(recorded, new) answer of the model to the noisy input."""
    question_noisy: str
    files: list[str] = dataclasses.field(default_factory=list)
    error: Optional[str] = None
    """Why the model gave no new answer, if it raised."""
    noise_device: tuple[str, str] = ("cpu", "cpu")
    """(recorded, rebuilt on) device type of the image noise."""

    @property
    def image_compared(self) -> bool:
        """Whether the image can be compared bit for bit: rebuilt on the kind of device it was made on
        (a GPU draws other random numbers than the CPU for the same seed; see :mod:`medrobust.noise.batch`)."""
        return self.noise_device[0] == self.noise_device[1]

    @property
    def reproduced(self) -> bool:
        """The noisy inputs were rebuilt bit for bit: records and question always, the image where it can be
        compared (:attr:`image_compared`)."""
        image = self.image_sha256[0] == self.image_sha256[1] or not self.image_compared
        return image and self.question_sha256[0] == self.question_sha256[1] and self.records_match

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**dataclasses.asdict(self), "image_compared": self.image_compared, "reproduced": self.reproduced}


def find_case(cert: dict[str, Any], case_id: str) -> dict[str, Any]:
    """The case ``case_id`` of ``cert``; the error lists the ids there are."""
    cases = [c for c in cert.get("cases") or [] if isinstance(c, dict)]
    for case in cases:
        if case.get("id") == case_id:
            return case
    ids = ", ".join(str(c.get("id")) for c in cases) or "none (no spec failed)"
    raise ReplayError(f"no case {case_id!r} in this certificate; its cases: {ids}")


def load_extra_plugins(specs: Sequence[str]) -> list[Any]:
    """Import plugins named on the command line (``--plugin``): module names, or ``.py`` files such as the
    ``conftest.py`` that registered a model, loaded as pytest loads a conftest.

    A file's folder (the first folder up that is not a package, as pytest's default import mode
    does) goes first on ``sys.path``, so that the file's own imports work; a file in a package is
    imported by its dotted name. medrobust's hypothesis profiles are registered first, since a
    conftest of specs loads one (``settings.load_profile("medrobust")``). A file named twice, or
    loaded before in this process, is the same module, imported once.

    Raises:
        ReplayError: A file that does not exist, a module that cannot be imported, or a plugin that
            raised while loading (its exception named).
    """
    from ..pytest_plugin.profiles import register_profiles

    register_profiles()
    modules: list[Any] = []
    for spec in specs:
        path = Path(spec)
        if spec.endswith(".py") or path.exists():
            module = _load_file(spec, path)
        else:
            try:
                module = importlib.import_module(spec)
            except ImportError as exc:
                raise ReplayError(f"cannot import plugin module {spec!r}: {exc}; give a module name or the "
                                  f"path of a .py file") from None
            except Exception as exc:  # a plugin that breaks while loading
                raise ReplayError(f"plugin module {spec!r} failed to load: {type(exc).__name__}: {exc}") from None
        if not any(module is m for m in modules):
            modules.append(module)
    return modules


def _load_file(spec: str, path: Path) -> Any:
    """The module of plugin file ``path``, imported once (see :func:`load_extra_plugins`)."""
    if not path.is_file():
        raise ReplayError(f"plugin file {spec} does not exist" if not path.exists() else
                          f"plugin file {spec} is not a file; give the path of a .py file")
    path = path.resolve()
    base, parts = path.parent, [path.stem]
    while (base / "__init__.py").is_file():  # pytest's rootdir-based import: up to the first non-package
        parts.insert(0, base.name)
        base = base.parent
    if str(base) not in sys.path:
        sys.path.insert(0, str(base))
    name = ".".join(parts) if len(parts) > 1 else f"medrobust_plugin_{path.stem}_{_path_tag(path)}"
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path:
        return loaded
    try:
        if len(parts) > 1:
            return importlib.import_module(name)
        loader = importlib.util.spec_from_file_location(name, path)
        if loader is None or loader.loader is None:
            raise ReplayError(f"cannot import plugin file {spec}")
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module  # as an import would: dataclasses and pickling look it up there
        try:
            loader.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    except ReplayError:
        raise
    except Exception as exc:  # a conftest that breaks while loading: name it, no traceback
        raise ReplayError(f"plugin file {spec} failed to load: {type(exc).__name__}: {exc}") from None


def _path_tag(path: Path) -> str:
    return hashlib.sha256(str(path).encode()).hexdigest()[:12]


def _options(cert: dict[str, Any], device: Optional[str]) -> RunOptions:
    stated = (cert.get("run") or {}).get("options") or {}
    local = cert.get("local") or {}  # where the data and weights lay (schema /4 keeps them out of the digest)
    stated = {**{k: local[k] for k in MACHINE_PATHS if k in local}, **stated}
    overrides: dict[str, Any] = {"journal": None, "certificate": None}  # ask the model again; write no certificate
    if device:
        overrides["device"] = device
    try:
        options = options_from_json(stated, **overrides)
    except (OptionError, TypeError) as exc:
        raise ReplayError(f"the certificate's run options cannot be used here: {exc}") from None
    for label, value in (("dataset path", options.dataset_path), ("model path", options.model_path)):
        if value and not Path(value).exists():
            raise ReplayError(f"the certificate's {label} {value!r} is not available here; "
                              f"run replay where it exists (or at the same path)")
    return options


def _context(cert: dict[str, Any], plugins: Sequence[str], device: Optional[str]) -> RunContext:
    options = _options(cert, device)
    ctx = RunContext(options, load_plugins(extra=load_extra_plugins(plugins)))
    provided = (cert.get("run") or {}).get("plugins") or {}
    for kind, name in (("models", options.model), ("calibrators", options.calibrator),
                       ("datasets", options.dataset)):
        try:
            ctx.host.registry(kind)[name]
        except PluginError as exc:
            source = (provided.get(kind) or {}).get(name, "unknown")
            raise ReplayError(f"{exc}. The certificate's {kind[:-1]} {name!r} came from plugin {source!r}; "
                              f"load it with --plugin MODULE or --plugin FILE.py") from None
    return ctx


def _noise_devices(cert: dict[str, Any]) -> tuple[str, str]:
    """The device the run made its image noise on (its ``--noise-device``, else its ``--device``), and the
    one to rebuild it on here: the same where this machine has it, else the CPU (records and questions
    still compare bit for bit; the image is then another draw of the same law)."""
    from ..run.startup import check_device

    stated = (cert.get("run") or {}).get("options") or {}
    recorded = str(stated.get("noise_device") or stated.get("device") or "cpu")
    try:
        check_device("--noise-device", recorded)
    except OptionError:
        return recorded, "cpu"
    return recorded, recorded


def _device_type(device: str) -> str:
    return device.split(":")[0]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "sample"


def _check_versions(case: dict[str, Any], noises: Any) -> None:
    """Raise ReplayError when a noise registered here is not the version the case's examples recorded."""
    for example in case.get("examples") or []:
        for record in example.get("applied") or []:
            noise = noises.get(record.get("name")) if isinstance(record, dict) else None
            if noise is not None and str(record.get("version")) != noise.version:
                raise ReplayError(f"noise {record['name']!r} is version {noise.version} here but the certificate "
                                  f"recorded version {record.get('version')}; replay needs the same version "
                                  f"(install the noise's plugin at the version the certificate was made with)")


def replay_case(cert: dict[str, Any], case_id: str, plugins: Sequence[str] = (),
                output: "str | Path | None" = None, device: Optional[str] = None) -> list[ExampleReplay]:
    """Rebuild the noisy inputs of case ``case_id``'s examples and ask the model again.

    Args:
        cert: The certificate data.
        case_id: A ``cases[].id``.
        plugins: Extra plugins to load (module names or ``.py`` files), e.g. the conftest that
            registered the model.
        output: A folder to write each rebuilt noisy image (PNG) and question (text) into.
        device: Run the model on this device instead of the certificate's.

    Raises:
        ReplayError: Unknown case, unavailable data or model, missing plugin or noise, a noise of
            another version than recorded, a composition the noises reject.
    """
    case = find_case(cert, case_id)
    ctx = _context(cert, plugins, device)
    try:
        composition = Composition.from_json(case.get("composition") or [])
    except (KeyError, TypeError, ValueError) as exc:
        raise ReplayError(f"case {case_id!r} cannot be rebuilt here: its composition is malformed "
                          f"({type(exc).__name__}: {exc})") from None
    _check_versions(case, ctx.noises)
    wanted = [ex["sample_id"] for ex in case.get("examples") or []]
    by_id = {s.id: s for s in ctx.dataset.samples(ctx.options.split) if s.id in set(wanted)}
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise ReplayError(f"dataset {ctx.options.dataset!r} split {ctx.options.split!r} has no samples "
                          f"{', '.join(missing)}; is it the dataset the certificate was made on?")
    recorded_device, rebuild_device = _noise_devices(cert)
    try:
        # on the device the run made its noise on: a GPU draws other numbers than the CPU (see noise.batch)
        rebuilt = apply_composition_batch([by_id[i] for i in wanted], composition, ctx.noises, ctx.options.seed,
                                          rebuild_device)
    except KeyError as exc:
        raise ReplayError(f"{exc.args[0]}; load the plugin that provides it with --plugin") from None
    except ValueError as exc:  # e.g. a severity or parameters the noise rejects
        raise ReplayError(f"case {case_id!r} cannot be rebuilt here: {exc}") from None
    answers: list[Optional[str]] = [None] * len(rebuilt)
    error = None
    try:
        if rebuilt:
            answers = list(ctx.model.answer([sample for sample, _ in rebuilt]))
    except Exception as exc:  # the inputs are still compared; the failure is reported with them
        error = f"{type(exc).__name__}: {exc}"
    if len(answers) != len(rebuilt):
        error = f"the model returned {len(answers)} answers for {len(rebuilt)} samples"
        answers = [None] * len(rebuilt)
    folder = Path(output) if output else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n, (example, (sample, applied), answer) in enumerate(zip(case["examples"], rebuilt, answers), start=1):
        records = [r.to_json() for r in applied]
        result = ExampleReplay(
            example["sample_id"], (example.get("noisy_image_sha256"), image_digest(sample.image)),
            (example.get("noisy_question_sha256"), text_digest(sample.question)),
            "applied" not in example or canonical_json(records) == _recorded(example["applied"]),
            (example.get("answer_noisy"), answer), sample.question, error=error,
            noise_device=(_device_type(recorded_device), _device_type(rebuild_device)))
        if folder is not None:
            base = f"{_slug(case_id)}-{n}-{_slug(sample.id)}-noisy"
            image_path, question_path = folder / f"{base}.png", folder / f"{base}.txt"
            sample.image.save(image_path, format="PNG")
            question_path.write_text(sample.question, encoding="utf-8")
            result.files = [str(image_path), str(question_path)]
        out.append(result)
    return out


def _recorded(applied: Any) -> Optional[str]:
    """The canonical text of recorded noise records in today's form (older certificates wrote seeds as
    numbers); None when they are not readable records (then they do not match)."""
    try:
        return canonical_json([AppliedNoise.from_json(r).to_json() for r in applied])
    except (KeyError, TypeError, ValueError):
        return None
