"""The run's options: one table, from which every way of stating them is derived.

:data:`OPTIONS` declares each option once (flag, type, default, help, whether
it is a local path outside the certificate's digest, whether a replay carries
it). From it come pytest's options (:func:`add_pytest_options`,
:func:`options_from_pytest`), the ``medrobust evaluate`` arguments
(:func:`add_cli_arguments`, :func:`options_from_args`), the options a
certificate states (:meth:`RunOptions.to_json`, :func:`options_from_json`) and
the shell command that re-evaluates a composition (:func:`replay_command`).

Under pytest each option is also an ini key (``medrobust_model`` in ``pytest.ini`` or
``[tool.pytest.ini_options]``) and an environment variable (``MEDROBUST_MODEL``); the
command line wins over the environment, which wins over the ini file, which wins over the
default (:func:`option_source`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
from typing import Any, Callable, Mapping, Optional, Sequence

from ..errors import OptionError
from .keyvalue import parse_dataset, parse_key_values
from .model_calls import DEFAULT_ANSWER_TIMEOUT

__all__ = ["RunOptions", "Option", "OPTIONS", "LOCAL_OPTIONS", "add_pytest_options", "options_from_pytest",
           "option_source", "env_or_ini", "add_cli_arguments", "options_from_args", "options_from_json",
           "command_arguments", "replay_command"]

SEVERITY_SCALES = ("declared", "calibrated")


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """What the user asked for: the model, calibrator and dataset, and how to run them."""

    model: str = "reference"
    model_path: Optional[str] = None
    model_options: dict[str, str] = dataclasses.field(default_factory=dict)
    calibrator: str = "none"
    calibrator_options: dict[str, str] = dataclasses.field(default_factory=dict)
    dataset: str = "phantom-vqa"
    dataset_path: Optional[str] = None
    dataset_options: dict[str, str] = dataclasses.field(default_factory=dict)
    split: str = "test"
    reference_split: str = "reference"
    samples: Optional[int] = None
    seed: int = 0
    certificate: Optional[str] = "reports/certificate"
    device: str = "cpu"
    noise_device: Optional[str] = None
    """Where image noises run; None: on ``device``, with the model."""
    batch_size: int = 64
    severity_scale: str = "declared"
    journal: Optional[str] = ".medrobust/journal.sqlite"
    protocol: Optional[str] = None
    """Path of a pre-registered protocol (YAML); read and hashed when the run starts."""
    answer_timeout: float = DEFAULT_ANSWER_TIMEOUT
    """Seconds a model call may take for each sample in it; 0: no limit (see :mod:`medrobust.run.model_calls`)."""

    def __post_init__(self) -> None:
        if isinstance(self.answer_timeout, bool) or not (isinstance(self.answer_timeout, (int, float))
                                                         and self.answer_timeout >= 0):
            raise OptionError(f"--answer-timeout must be a number of seconds, at least 0 (0: no limit), "
                              f"got {self.answer_timeout!r}")
        if self.samples is not None and self.samples < 1:
            raise OptionError(f"--samples must be at least 1, got {self.samples}")
        if self.batch_size < 1:
            raise OptionError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.severity_scale not in SEVERITY_SCALES:
            raise OptionError(f"--severity-scale must be one of {', '.join(SEVERITY_SCALES)}, "
                              f"got {self.severity_scale!r}")

    def to_json(self) -> dict[str, Any]:
        """Every option as a plain dict."""
        return dataclasses.asdict(self)

    @property
    def noise_device_used(self) -> str:
        """The device image noises run on: ``noise_device``, else the model's ``device``."""
        return self.noise_device or self.device


@dataclasses.dataclass(frozen=True)
class Option:
    """One command-line option of a run.

    Attributes:
        flag: The long flag, e.g. ``--model``.
        fields: The :class:`RunOptions` fields it sets (``--dataset NAME[:PATH]`` sets two).
        help: What it does.
        kind: ``str``, ``int``, ``float``, ``"pairs"`` (repeatable ``KEY=VALUE``) or ``"dataset"`` (``NAME[:PATH]``).
        metavar: The placeholder shown in help.
        choices: The allowed values, if fixed.
        nullable: ``none`` or an empty value means None.
        local: A local path that cannot change a result: kept out of the certificate's digest.
        replay: Carried by the replay command (``always``: even at its default).
    """

    flag: str
    fields: tuple[str, ...]
    help: str
    kind: Any = str
    metavar: Optional[str] = None
    choices: Optional[tuple[str, ...]] = None
    nullable: bool = False
    local: bool = False
    replay: str = "no"

    @property
    def dest(self) -> str:
        """The argparse / pytest destination name."""
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def env(self) -> str:
        """The environment variable that sets it under pytest, e.g. ``MEDROBUST_MODEL_OPTION``."""
        return "MEDROBUST_" + self.dest.upper()

    @property
    def ini(self) -> str:
        """The ini key that sets it under pytest, e.g. ``medrobust_model_option``."""
        return "medrobust_" + self.dest

    @property
    def default(self) -> Any:
        """The command-line default, derived from :class:`RunOptions`' defaults."""
        defaults = RunOptions()
        if self.kind == "pairs":
            return []
        if self.kind == "dataset":
            return defaults.dataset
        return getattr(defaults, self.fields[0])

    def to_fields(self, value: Any) -> dict[str, Any]:
        """The :class:`RunOptions` fields for a value given on the command line."""
        if self.kind == "pairs":
            return {self.fields[0]: parse_key_values(value or [], self.flag)}
        if self.kind == "dataset":
            name, path = parse_dataset(value)
            return {self.fields[0]: name, self.fields[1]: path}
        if self.nullable and value in ("none", ""):
            value = None
        return {self.fields[0]: value}

    def to_arguments(self, options: RunOptions) -> list[str]:
        """The command-line words that give ``options``' value of this option (empty at its default)."""
        value = getattr(options, self.fields[0])
        if self.kind == "pairs":
            return [w for key, v in sorted(value.items()) for w in (self.flag, f"{key}={v}")]
        if self.kind == "dataset":
            path = getattr(options, self.fields[1])
            return [self.flag, value + (f":{path}" if path else "")]
        if value is None or (value == self.default and self.replay != "always"):
            return []
        return [self.flag, str(value)]


OPTIONS: tuple[Option, ...] = (
    Option("--model", ("model",), "registered model to test (default: reference)", replay="always"),
    Option("--model-path", ("model_path",), "local path of the model's weights", replay="yes"),
    Option("--model-option", ("model_options",), "option passed to the model factory (repeatable)",
           kind="pairs", metavar="KEY=VALUE", replay="yes"),
    Option("--calibrator", ("calibrator",), "registered calibrator (default: none)", replay="yes"),
    Option("--calibrator-option", ("calibrator_options",), "option passed to the calibrator factory (repeatable)",
           kind="pairs", metavar="KEY=VALUE", replay="yes"),
    Option("--dataset", ("dataset", "dataset_path"),
           "registered dataset, with a local path if it needs one (default: phantom-vqa)",
           kind="dataset", metavar="NAME[:PATH]", replay="always"),
    Option("--dataset-option", ("dataset_options",), "option passed to the dataset factory, e.g. lang=all "
           "(repeatable)", kind="pairs", metavar="KEY=VALUE", replay="yes"),
    Option("--seed", ("seed",), "run seed; every noise seed derives from it", kind=int, replay="always"),
    Option("--severity-scale", ("severity_scale",), "severity levels as each noise's declared table, or "
           "calibrated to target SSIM / edit similarity on the reference split (default: declared)",
           choices=SEVERITY_SCALES, replay="yes"),
    Option("--samples", ("samples",), "evaluate on a seeded subset of N test samples (default: the whole split)",
           kind=int, metavar="N", replay="yes"),
    Option("--device", ("device",), "device for the model (cpu, cuda, cuda:1...)"),
    Option("--noise-device", ("noise_device",), "device for the image noises (default: --device, with the "
           "model); noise made on a GPU replays bit for bit only on a GPU", nullable=True, replay="yes"),
    Option("--batch-size", ("batch_size",), "samples per model call and per batch of noise (default: 64)",
           kind=int),
    Option("--answer-timeout", ("answer_timeout",), "seconds a model call may take for each sample in it; "
           "a call past its limit is abandoned and its samples are errors (default: 60; 0: no limit)",
           kind=float, metavar="SECONDS", replay="yes"),
    Option("--journal", ("journal",), "answer journal shared by re-runs and xdist workers ('none' to disable; "
           "default: .medrobust/journal.sqlite)", metavar="PATH", nullable=True, local=True),
    Option("--certificate", ("certificate",), "write PATH.json and PATH.html (default: reports/certificate; "
           "'none' to skip)", metavar="PATH", nullable=True, local=True),
    Option("--protocol", ("protocol",), "pre-registered test protocol (YAML): criteria with clinical "
           "justifications, hashed before the run; checks whose thresholds differ are flagged as deviations",
           metavar="PATH", nullable=True, local=True),
)
"""Every run option, in the order ``--help`` lists them and a replay command gives them."""

LOCAL_OPTIONS = tuple(f for o in OPTIONS if o.local for f in o.fields)
"""RunOptions fields that are local paths: recorded outside the certificate's digest."""

_EVALUATE_SKIPS = ("--certificate", "--protocol")
"""Options ``medrobust evaluate`` does not take (it writes no certificate)."""


def _kwargs(option: Option) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"default": option.default, "help": option.help}
    if option.kind == "pairs":
        kwargs["action"] = "append"
    elif option.kind in (int, float):
        kwargs["type"] = option.kind
    if option.metavar:
        kwargs["metavar"] = option.metavar
    if option.choices:
        kwargs["choices"] = option.choices
    return kwargs


def _build(values: Callable[[Option], Any], skip: Sequence[str] = (), **fixed: Any) -> RunOptions:
    fields: dict[str, Any] = {}
    for option in OPTIONS:
        if option.flag not in skip:
            fields.update(option.to_fields(values(option)))
    fields.update(fixed)
    return RunOptions(**fields)


def _add_ini(parser: Any, option: Option) -> None:
    text = f"{option.flag}: {option.help}"
    if option.kind == "pairs":  # KEY=VALUE words, shell-quoted, or a TOML list
        parser.addini(option.ini, text, type="args", default=None)
        return
    if option.kind in (int, float):
        try:  # TOML numbers as numbers: the ini types int and float came with pytest 8.4
            parser.addini(option.ini, text, type=option.kind.__name__, default=None)
            return
        except (AssertionError, TypeError, ValueError):
            pass
    parser.addini(option.ini, text, type="string", default=None)


def add_pytest_options(group: Any, parser: Any = None) -> None:
    """Add every run option to pytest's option group ``group``, and its ini key to ``parser``.

    The command-line default is None (not given), so that :func:`option_source` can fall back on
    the environment, the ini file and then the table's default.
    """
    for option in OPTIONS:
        kwargs = _kwargs(option)
        kwargs["default"] = None
        kwargs["help"] = f"{option.help} [env {option.env}, ini {option.ini}]"
        group.addoption(option.flag, **kwargs)
        if parser is not None:
            _add_ini(parser, option)


def env_or_ini(config: Any, env: str, ini: str) -> tuple[str, Any]:
    """A value not given on the command line: ``(source, value)`` from the environment variable ``env``,
    else the ini key ``ini``, else ``("default", None)``. An empty value counts as not given."""
    text = os.environ.get(env, "")
    if text.strip():
        return f"environment {env}", text
    try:
        value = config.getini(ini)
    except Exception as exc:  # a value of the wrong type (pytest's UsageError, TypeError, ValueError)
        raise OptionError(f"ini {ini}: {exc}") from None
    if value not in (None, "", []):
        return f"ini {ini}", value
    return "default", None


def _typed(option: Option, source: str, value: Any) -> Any:
    """An environment or ini value as the command line would have given it."""
    if option.kind == "pairs":
        try:
            return shlex.split(value) if isinstance(value, str) else list(value)
        except ValueError as exc:  # an unbalanced quote
            raise OptionError(f"{source}: {option.flag}: {exc} in {value!r}") from None
    if option.kind in (int, float) and not isinstance(value, bool):
        try:
            return option.kind(value)
        except (TypeError, ValueError):
            raise OptionError(f"{source}: {option.flag} takes {'an integer' if option.kind is int else 'a number'}"
                              f", got {value!r}") from None
    value = str(value).strip()
    if option.choices and value not in option.choices:
        raise OptionError(f"{source}: {option.flag} must be one of {', '.join(option.choices)}, got {value!r}")
    return value


def option_source(config: Any, option: Option) -> tuple[str, Any]:
    """Where a pytest run's ``option`` comes from and its value as the command line gives it.

    Returns:
        ``(source, value)``: source is ``"command line"``, ``"environment MEDROBUST_..."``,
        ``"ini medrobust_..."`` or ``"default"`` (value: the table's default).

    Raises:
        OptionError: An environment or ini value of the wrong type, naming where it came from.
    """
    given = config.getoption(option.dest)
    if given is not None:
        return "command line", given
    source, value = env_or_ini(config, option.env, option.ini)
    if source == "default":
        return source, option.default
    return source, _typed(option, source, value)


def options_from_pytest(config: Any) -> RunOptions:
    """The run options pytest was given: command line, then environment, then ini file, then default.

    Raises:
        OptionError: A malformed or out-of-range value, naming the option (and the variable or ini key
            it came from, when not the command line).
    """
    fields: dict[str, Any] = {}
    for option in OPTIONS:
        source, value = option_source(config, option)
        try:
            fields.update(option.to_fields(value))
        except OptionError as exc:
            raise OptionError(str(exc) if source in ("command line", "default") else f"{source}: {exc}") from None
    try:
        return RunOptions(**fields)
    except OptionError as exc:
        where = [f"{s} sets {o.flag}" for o in OPTIONS for s, _ in [option_source(config, o)]
                 if s not in ("command line", "default") and o.flag in str(exc)]
        raise OptionError(f"{exc} ({'; '.join(where)})" if where else str(exc)) from None


def add_cli_arguments(parser: argparse.ArgumentParser, exclude: Sequence[str] = ()) -> None:
    """Add the run options ``medrobust evaluate`` takes (and a benchmark's) to ``parser``.

    Args:
        parser: The argument parser.
        exclude: Flags the caller sets itself (e.g. a benchmark that loops over ``--calibrator``).
    """
    for option in OPTIONS:
        if option.flag not in (*_EVALUATE_SKIPS, *exclude):
            parser.add_argument(option.flag, **_kwargs(option))


def options_from_args(args: argparse.Namespace, **fixed: Any) -> RunOptions:
    """The run options of a command line made by :func:`add_cli_arguments` (no certificate is written).

    ``fixed`` sets the fields of options the caller excluded, e.g. ``calibrator="imc"``.
    """
    return _build(lambda option: getattr(args, option.dest, option.default), skip=_EVALUATE_SKIPS,
                  **{"certificate": None, **fixed})


def options_from_json(stated: Mapping[str, Any], **overrides: Any) -> RunOptions:
    """The run options a certificate states (``run.options``), with some replaced (e.g. ``journal=None``)."""
    names = {f.name for f in dataclasses.fields(RunOptions)}
    fields = {k: v for k, v in stated.items() if k in names}
    fields.update(overrides)
    return RunOptions(**fields)


def command_arguments(options: RunOptions) -> list[str]:
    """The command-line words that give ``options`` back, for every option a replay carries."""
    return [word for option in OPTIONS if option.replay != "no" for word in option.to_arguments(options)]


def replay_command(options: RunOptions, composition_json: str, metric: str, plugins: Sequence[str] = ()) -> str:
    """The shell command that re-evaluates one composition (its JSON text) outside pytest; ``plugins`` are
    the ``--plugin`` words that load what pytest loaded from a conftest (:func:`.plugins.plugin_arguments`)."""
    words = ["medrobust", "evaluate", *command_arguments(options), *plugins, "--metric", metric,
             "--composition", composition_json]
    return " ".join(shlex.quote(w) for w in words)
