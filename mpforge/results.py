"""What a step did, as a value: steps return results, the task layer renders them (ui)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepResult:
    """One step's outcome: the line that sums it up, and whether it had nothing to do."""

    step: str
    message: str
    up_to_date: bool = False
    report: object = None  # a step's detailed result (e.g. config's Report), rendered before the line
    failure: Exception | None = None  # raised once the report is shown: the step failed

    @property
    def lines(self) -> list[str]:
        """What to show: each line of the message ("..., up to date" when there was nothing to do)."""
        suffix = ", up to date" if self.up_to_date else ""
        return [f"{line}{suffix}" for line in self.message.splitlines()]
