"""The one shape every input problem takes: which file, which field, why."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One problem with one input: the source (file, export or form), the field (a dotted path) and the reason."""

    source: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.path or '(document)'}: {self.reason}"
