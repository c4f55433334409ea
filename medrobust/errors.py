"""Every exception medrobust raises on purpose, in one place.

Each derives from :class:`MedrobustError`; most also from the built-in class
that callers caught before (``ValueError``, ``KeyError``, ``AssertionError``),
so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "MedrobustError", "PluginError", "UnknownNameError", "DuplicateNameError", "MissingCapability",
    "OptionError", "DatasetError", "JournalError", "SpecError", "ProtocolError", "ModelOutputError", "ModelUnavailable",
    "RobustnessFailure",
    "ReplayError", "UnreadableCertificate",
]


class MedrobustError(Exception):
    """Base class of medrobust's own errors."""


class PluginError(MedrobustError):
    """A plugin could not be registered, found or loaded."""


class UnknownNameError(PluginError, KeyError):
    """A name that no plugin registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class DuplicateNameError(PluginError):
    """Two plugins registered the same name."""


class MissingCapability(MedrobustError, ValueError):
    """A calibrator needs a model capability (feature hook, token scoring...) the model does not declare."""


class OptionError(MedrobustError, ValueError):
    """A run option or a plugin option that cannot be used, with what is expected."""


class DatasetError(MedrobustError, ValueError):
    """A dataset that cannot be read (missing file, wrong format), naming the file and the fix."""


class JournalError(MedrobustError):
    """An answer journal that cannot be used (unreadable, damaged, not a journal, its key missing),
    naming the file and the fix."""


class SpecError(MedrobustError, ValueError):
    """A ``*.robust.yaml`` spec that cannot be run, with where and why."""


class ProtocolError(MedrobustError, ValueError):
    """A protocol file that cannot be used, with where and why."""


class ModelOutputError(MedrobustError):
    """A model broke the ``answer(samples) -> list[str]`` contract."""


class ModelUnavailable(MedrobustError):
    """A model call that ran past ``--answer-timeout``, or was not made (the model is still in a call that
    timed out, or the run was interrupted); its samples are recorded as errors."""


class RobustnessFailure(MedrobustError, AssertionError):
    """A robustness expectation did not hold."""


class ReplayError(MedrobustError, ValueError):
    """A failure case that cannot be replayed here (unknown id, missing data or model, missing plugin)."""


class UnreadableCertificate(MedrobustError, ValueError):
    """A certificate file that cannot be read or parsed."""
