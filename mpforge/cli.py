"""Glue between invoke and mpforge: one flag language, and every task ends a user error in one line."""

from __future__ import annotations

import contextlib
import difflib
import errno
import functools
import inspect
import os
import sys

import invoke
from invoke.config import AmbiguousMergeError, UnknownFileType
from invoke.env import Environment
from invoke.exceptions import AmbiguousEnvVar, UncastableEnvVar

from mpforge import events, lock, ui
from mpforge.model import settings as settings_mod
from mpforge import errors
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


NO_WAIT_HELP = "refuse at once when another mpforge run holds the workdir or the port, instead of waiting"


def task(*args, locks=("workdir",), **kwargs):
    """invoke.task, but a UserError (or Ctrl-C) becomes one line on stderr and an exit code.

    locks: "workdir" holds the workdir's lock for the whole task; "port" says the task
    takes port locks (mpforge.lock) where it opens a board. Either adds --no-wait."""

    def decorate(body):
        @functools.wraps(body)
        def wrapper(c, *a, no_wait=False, **kw):
            try:
                settings_mod.check(c.config.get("mpforge"))  # every task, even those that read no setting
                lock.wait = not no_wait
                with contextlib.ExitStack() as held:
                    printer = held.enter_context(events.listening(ui.EventPrinter()))
                    held.callback(printer.close)  # a progress line cut short by an error ends first
                    if "workdir" in locks and not c.config.get("run", {}).get("dry"):
                        held.enter_context(lock.workdir(settings_mod.from_config(c.config).workdir))
                    return body(c, *a, **kw)
            except UserError as exc:
                raise invoke.Exit(ui.terminal_text(errors.task_line(exc)), code=exc.code) from None
            except KeyboardInterrupt as exc:
                raise invoke.Exit(ui.terminal_text(errors.task_line(exc)), code=130) from None
            except OSError as exc:
                message = disk_problem(exc)
                if message is None:
                    raise
                raise invoke.Exit(ui.terminal_text(errors.task_line(UserError(message))), code=1) from None

        if locks:
            signature = inspect.signature(body)
            wrapper.__signature__ = signature.replace(parameters=[
                *signature.parameters.values(),
                inspect.Parameter("no_wait", inspect.Parameter.KEYWORD_ONLY, default=False)])
            kwargs["help"] = {**kwargs.get("help", {}), "no_wait": NO_WAIT_HELP}
        return invoke.task(*args, klass=FlagTask, auto_shortflags=False, **kwargs)(wrapper)

    return decorate


_DISK_HINTS = {
    errno.EROFS: "the file system is read-only; point setting mpforge.workdir (or --dest) at a writable folder",
    errno.ENOSPC: "no space left on the device; free some space (or point mpforge.workdir elsewhere) and run again",
    errno.EDQUOT: "disk quota exceeded; free some space (or point mpforge.workdir elsewhere) and run again",
    errno.EACCES: "permission denied; fix its permissions (chmod/chown) or point mpforge.workdir at a folder you own",
    errno.EPERM: "operation not permitted; fix its permissions (chmod/chown) or point mpforge.workdir at a folder you own",
    errno.ENOTDIR: "a part of that path is a file, not a folder; point the setting or flag at a folder",
    errno.EEXIST: "a file is in the way where a folder belongs; move it away or point mpforge.workdir elsewhere",
    errno.EISDIR: "it is a folder where a file belongs; point the setting or flag at a file",
    errno.ENAMETOOLONG: "the path is too long; use a shorter workdir or file name",
}


class lazy:  # noqa: N801 -- stands in for a module
    """A module imported on its first use, so a task loads only what it runs."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        import importlib

        return getattr(importlib.import_module(self._name), attr)


def disk_problem(exc: OSError) -> str | None:
    """A read-only, full or forbidden disk as one line naming the path, or None for other errors."""
    hint = _DISK_HINTS.get(exc.errno)
    if hint is None:
        return None
    path = exc.filename or "a file"
    return f"cannot use {path}: {hint}"


def settings(c, **overrides) -> settings_mod.Settings:
    """Settings from the invoke context, with task flags on top."""
    return settings_mod.from_config(c.config, **overrides)


# ---- settings errors invoke raises before any task runs ---------------------------

_ENV_PREFIX = "INVOKE_MPFORGE_"


def env_problem(config) -> str | None:
    """The first INVOKE_MPFORGE_* variable invoke cannot take, in one line, or None.

    invoke casts each variable to the type the setting already has (int("soon") for
    verify.timeout) and crashes with a traceback when it cannot; this finds the
    variable first. A variable that names no setting (a typo) is one too."""
    loader = Environment(config=config._config, prefix="INVOKE_")
    known = {}
    try:
        for env_var, key_path in loader._crawl(key_path=[], env_vars={}).items():
            known["INVOKE_" + env_var] = key_path
    except AmbiguousEnvVar as exc:
        return f"two settings map to one INVOKE_* variable ({exc}); rename one in your config file"
    for name, value in sorted(os.environ.items()):
        if not name.startswith(_ENV_PREFIX):
            continue
        if name not in known:
            mpforge_vars = [v for v in known if v.startswith(_ENV_PREFIX)]
            near = difflib.get_close_matches(name, mpforge_vars, n=1, cutoff=0.5)
            hint = f"did you mean {near[0]}?" if near else "see `Settings` in README.md"
            return f"{name} names no setting; {hint} (unset it: unset {name})"
        path = known[name]
        old = loader._path_get(path)
        if isinstance(old, (list, dict)):  # invoke casts no list or table from the environment
            return (f"{name}: invoke cannot read a {'list' if isinstance(old, list) else 'table'} from the "
                    f"environment; set {'.'.join(path)} in invoke.yaml (or a -f file), or give the task's "
                    f"flag once per value (unset it: unset {name})")
        if isinstance(old, bool) and value.strip() not in ("0", "1", ""):
            # invoke reads every text but "0" and "" as true, so "no" or "false" would mean yes.
            return (f"{name}={value!r}: invoke reads only 1 (true) and 0 (false) for setting "
                    f"{'.'.join(path)}; set it to 1 or 0")
        try:
            loader._cast(old, value)
        except (ValueError, TypeError, UncastableEnvVar):
            kind = "a whole number" if isinstance(old, int) else f"a {type(old).__name__}"
            return (f"{name}={value!r} is not {kind} as setting {'.'.join(path)} needs; "
                    f"set it to e.g. {old!r} or unset it")
    return None


class Executor(invoke.Executor):
    """invoke's executor (named by tasks.executor_class in invoke.yaml), checking the
    settings sources invoke reads late: INVOKE_MPFORGE_* variables and the -f file."""

    def execute(self, *tasks):
        runtime = getattr(self.config, "_runtime_path", None)
        if runtime and not os.path.isfile(runtime):
            raise invoke.Exit(ui.terminal_text(f"error: config file {runtime} (-f) does not exist; check the path"),
                              code=2)
        problem = env_problem(self.config) or section_problem(self.config)
        if problem:
            raise invoke.Exit(ui.terminal_text(f"error: {problem}"), code=2)
        return super().execute(*tasks)


def section_problem(config) -> str | None:
    """A top-level key of invoke.yaml or the -f file that neither invoke nor mpforge knows
    (`mpforg:` would otherwise be ignored in silence), in one line naming the nearest."""
    known = {*invoke.Config.global_defaults(), "mpforge"}
    for where, data in ((getattr(config, "_runtime_path", None), getattr(config, "_runtime", {})),
                        (getattr(config, "_project_path", None), getattr(config, "_project", {}))):
        for key in (data or {}):
            if key not in known:
                near = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.5)
                hint = f"did you mean {near[0]}?" if near else "mpforge's settings go under `mpforge:`"
                return f"{where or 'a config file'}: unknown section {key!r}; {hint}"
    return None


def _raised_merging_config(tb) -> bool:
    """True when the innermost frame is invoke merging config files (invoke/config.py merge_dicts)."""
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    code = last.tb_frame.f_code if last else None
    return bool(code) and code.co_name == "merge_dicts" and code.co_filename.endswith(os.path.join("invoke", "config.py"))


def _config_file_errors(kind, exc, tb):
    """A broken config file (invoke.yaml or -f FILE) ends in one line, not invoke's traceback."""
    yaml_error = type(exc).__module__.startswith(("yaml", "invoke.vendor.yaml"))
    if isinstance(exc, (AttributeError, TypeError)) and _raised_merging_config(tb):
        exc = AmbiguousMergeError(str(exc))  # a file whose top level is a list or a text, not settings
    if yaml_error or isinstance(exc, (AmbiguousMergeError, UnknownFileType)):
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.name} line {mark.line + 1}" if mark else "a config file (invoke.yaml or -f FILE)"
        what = (f"it is not valid YAML ({getattr(exc, 'problem', None) or type(exc).__name__})" if yaml_error
                else "a setting there has the wrong shape (e.g. `mpforge: 5` where a table of settings belongs)"
                if isinstance(exc, AmbiguousMergeError) else str(exc))
        ui.error(f"{where}: {what}; fix the file")
        return
    _default_hook(kind, exc, tb)


_default_hook = sys.excepthook
sys.excepthook = _config_file_errors
