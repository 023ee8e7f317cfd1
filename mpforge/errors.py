"""Errors a user can act on.

A ``UserError`` ends a task with one line on stderr (what is wrong and what
to do) and a non-zero exit, never a traceback. Anything else is a bug.
"""


class UserError(Exception):
    """A problem with the user's input, machine or board, stated in one line."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code
