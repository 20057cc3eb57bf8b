"""The exceptions lr-agent raises for bad input, in one place."""

from __future__ import annotations


class LRAgentError(Exception):
    """Base class of every error lr-agent raises on purpose."""


class SpecError(LRAgentError, ValueError):
    """A workload spec (a TOML file in ``envs/`` or a dict) has a mistake.

    The message names the file and the field, shows the value and says what
    would be valid, e.g. ``envs/x.toml: [run] lr_bounds: expected [min, max]
    with 0 < min < max, got [1.0, 1e-06]``.
    """

    def __init__(self, source: str, field: str, problem: str) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        super().__init__(f"{source}: {field}: {problem}")


class UnknownNameError(LRAgentError, ValueError):
    """A name (env id, schedule, data set, model kind) is not one we know."""

    def __init__(self, kind: str, name: str, valid: list[str] | tuple[str, ...]) -> None:
        self.kind, self.name, self.valid = kind, name, list(valid)
        super().__init__(f"unknown {kind} {name!r}; valid: {', '.join(sorted(valid))}")


class ExperimentChangedError(LRAgentError, ValueError):
    """An experiment's folder holds the trials of another version of its file; Tune resumes only those."""
