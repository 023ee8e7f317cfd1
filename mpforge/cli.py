"""Glue between invoke and mpforge: one flag language, and every task ends a user error in one line."""

from __future__ import annotations

import functools

import invoke

from mpforge.model import settings as settings_mod
from mpforge.errors import UserError

#: The one flag language: a long flag has the same short letter in every task.
#: Letters follow esptool where its users already have one (-b BAUD; its -p is
#: invoke's own --pty, so the port is -P); invoke's own letters (INVOKE_CORE)
#: are never used. A flag missing here has no short letter.
SHORT = {
    "profile": "B",      # the board profile (`invoke boards` lists them)
    "micropython": "m",
    "port": "P",
    "baud": "b",
    "yes": "y",
    "json": "j",
    "verbose": "v",
    "dest": "o",
}
#: Flags whose value is not text.
KIND = {"baud": int}
#: invoke's core flags' short letters (`invoke --help`): a task flag must not shadow them.
INVOKE_CORE = frozenset("cdDefFhlprRTVw")

assert not INVOKE_CORE & set(SHORT.values()), "a short flag shadows one of invoke's own"


class _TypedArgument(invoke.parser.Argument):
    """A flag with a KIND: a value that does not convert is one line, not a traceback."""

    def set_value(self, value, cast=True):
        try:
            super().set_value(value, cast)
        except ValueError:
            raise invoke.ParseError(f"error: --{self.name} takes a whole number, not '{value}'") from None


class FlagTask(invoke.Task):
    """An invoke Task whose short flags come from SHORT, not from the first free letter."""

    def get_arguments(self, ignore_unknown_help=None):
        args = super().get_arguments(ignore_unknown_help)
        for arg in args:
            if arg.kind in KIND.values():
                arg.__class__ = _TypedArgument  # same fields; only set_value differs
        return args

    def arg_opts(self, name, default, taken_names):
        opts = super().arg_opts(name, default, taken_names)
        letter = SHORT.get(name)
        if letter:
            opts["names"] = [*opts["names"], letter]
        if name in KIND and name not in self.iterable:
            opts["kind"] = KIND[name]
        return opts


def task(*args, **kwargs):
    """invoke.task, but a UserError (or Ctrl-C) becomes one line on stderr and an exit code."""

    def decorate(body):
        @functools.wraps(body)
        def wrapper(c, *a, **kw):
            try:
                return body(c, *a, **kw)
            except UserError as exc:
                raise invoke.Exit(f"error: {exc}", code=exc.code) from None
            except KeyboardInterrupt:
                raise invoke.Exit("error: interrupted; run the task again to resume", code=130) from None

        return invoke.task(*args, klass=FlagTask, auto_shortflags=False, **kwargs)(wrapper)

    return decorate


def settings(c, **overrides) -> settings_mod.Settings:
    """Settings from the invoke context, with task flags on top."""
    return settings_mod.from_config(c.config, **overrides)
