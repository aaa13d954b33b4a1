"""Domain exceptions. User input errors are raised as these, never as ``assert``."""

from __future__ import annotations


class ImrBayesError(Exception):
    """Base class of every error the package raises on purpose."""


class DataValidationError(ImrBayesError, ValueError):
    """Participant data break the data contract.

    Parameters
    ----------
    problems : list of str
        Every problem found, each naming its row and column where it has one.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        head = f"{len(self.problems)} problem(s) in the participant data:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


class SpecError(ImrBayesError, ValueError):
    """A model specification (or a prior set) is invalid."""


class PublishedDataError(ImrBayesError, ValueError):
    """A file of published numbers under ``models/published`` is malformed."""


class StudyError(ImrBayesError):
    """A simulation study cannot run: unreachable scheduler, mismatched store, failed replicate."""
