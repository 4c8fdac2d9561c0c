"""Exceptions for bad user input. Each message says what is wrong and how to fix it.

The CLI turns any ``PditError`` into one line on stderr and exit code 2; library users catch them
like any ``ValueError``.
"""

from __future__ import annotations


class PditError(ValueError):
    """Base class: a problem the user can fix (bad input, missing model, bad profile)."""


class InvalidSettingError(PditError):
    """A generation or profiling setting is out of range or inconsistent."""


class BudgetOutOfReachError(InvalidSettingError):
    """No plan computes as little as the budget asks at this step count; ``lowest`` is the least computed share a
    plan reaches there (the budget to give instead)."""

    def __init__(self, message: str, lowest: float):
        super().__init__(message)
        self.lowest = lowest


class OutputPathError(PditError):
    """The output file exists (without --force), has an unknown extension, or cannot be written."""


class ModelNotAvailableError(PditError):
    """The model cannot be loaded: offline, missing files, bad folder."""


class UnsupportedModelError(PditError):
    """The pipeline's transformer class has no registry entry."""


class ProfileError(PditError):
    """A profile file is corrupt, of an unknown schema version, or does not fit the model."""
