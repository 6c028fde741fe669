"""Errors about user data that always say where: file, line and field."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataIssue:
    """One problem with one row: ``file:line: field: message``."""

    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line is not None else "")
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class DataError(ValueError):
    """Raised for bad input data; carries every issue found, not just the first."""

    def __init__(self, issues: list[DataIssue] | DataIssue):
        self.issues = issues if isinstance(issues, list) else [issues]
        shown = "\n".join(str(i) for i in self.issues[:20])
        more = f"\n... and {len(self.issues) - 20} more" if len(self.issues) > 20 else ""
        super().__init__(shown + more)
