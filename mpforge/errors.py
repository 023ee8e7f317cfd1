"""Errors a user can act on.

A ``UserError`` ends a task with one line on stderr and a non-zero exit,
never a traceback. It carries the step that failed, what is wrong and what
to do (the hint); ``line`` is the one place they become text, so the same
failure reads the same from every task. Anything else is a bug.
"""

from __future__ import annotations


def line(step: str, message: str, hint: str = "") -> str:
    """'step: message; hint' (the parts that are there)."""
    text = f"{step}: {message}" if step else message
    return f"{text}; {hint}" if hint else text


class UserError(Exception):
    """A problem with the user's input, machine or board, stated in one line.

    UserError(message) or UserError(step, message); hint= says what to do.
    """

    def __init__(self, *text: str, hint: str = "", code: int = 1):
        if not 1 <= len(text) <= 2:
            raise TypeError("UserError(message) or UserError(step, message)")
        self.step = text[0] if len(text) == 2 else ""
        self.message = str(text[-1])
        self.hint = hint
        self.code = code
        super().__init__(line(self.step, self.message, hint))

    @property
    def detail(self) -> str:
        """Message and hint, without the step (for a caller that names its own)."""
        return line("", self.message, self.hint)

    def with_hint(self, hint: str) -> "UserError":
        """The same error with another hint."""
        return UserError(*([self.step] if self.step else []), self.message, hint=hint, code=self.code)


def task_line(exc: BaseException) -> str:
    """What a task prints when it ends on this error."""
    if isinstance(exc, KeyboardInterrupt):
        exc = UserError("interrupted", hint="run the task again to resume", code=130)
    return f"error: {exc}"
