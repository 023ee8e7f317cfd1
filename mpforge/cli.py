"""Glue between invoke and mpforge: every task ends a user error in one line."""

from __future__ import annotations

import functools

import invoke

from mpforge.model import settings as settings_mod
from mpforge.errors import UserError


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

        return invoke.task(*args, **kwargs)(wrapper)

    return decorate


def settings(c, **overrides) -> settings_mod.Settings:
    """Settings from the invoke context, with task flags on top."""
    return settings_mod.from_config(c.config, **overrides)
