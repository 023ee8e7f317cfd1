"""Running external programs (git, make, bash): one place for dry runs,
missing tools and interrupted commands."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Iterable

from mpforge import events
from mpforge.errors import UserError

# What to tell a user who lacks a tool.
_INSTALL_HINT = "run `invoke install-prereqs` or install it with your package manager"


def quote(cmd: Iterable[str]) -> str:
    return " ".join(shlex.quote(str(c)) for c in cmd)


# Lines a failing program prints after the cause, which say nothing by themselves.
_ECHOES = ("the remote end hung up unexpectedly", "early eof", "index-pack failed", "fetch-pack: invalid index-pack output",
           "clone of ", "failed to clone ", "unable to checkout submodule", "could not read from remote repository",
           "please make sure you have the correct access rights")


def failure_reason(output: str) -> str:
    """The cause in a failed program's output, in one line: its error/fatal lines without
    the echoes that follow the cause (git's 'the remote end hung up'), else its last line."""
    lines = [" ".join(line.split()) for line in output.splitlines() if line.strip()]
    errors = [l for l in lines if l.lower().startswith(("fatal:", "error:"))]
    causes = [l for l in errors if not any(echo in l.lower() for echo in _ECHOES)] or errors
    unique = list(dict.fromkeys(causes))
    return "; ".join(unique[:3]) if unique else (lines[-1] if lines else "")


def require(step: str, *tools: str, path: str | None = None) -> None:
    """Fail in one line if a program is missing from PATH."""
    for tool in tools:
        if shutil.which(tool, path=path) is None:
            hint = _INSTALL_HINT if step != "install-prereqs" else "install it with your package manager"
            raise UserError(step, f"'{tool}' not found on PATH", hint=hint)


def run(step: str, cmd: list[str], *, cwd: Path | None = None, env: dict | None = None,
        dry: bool = False, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess:
    """Run a command; in a dry run say it instead (events.would). Failure is a one-line UserError."""
    if dry:
        events.would(step, quote(cmd) + (f"  (in {cwd})" if cwd else ""))
        return subprocess.CompletedProcess(cmd, 0, "", "")
    require(step, cmd[0], path=(env or os.environ).get("PATH"))
    try:
        result = subprocess.run(cmd, cwd=cwd, env=env, text=True,
                                capture_output=capture, stdin=subprocess.DEVNULL)
    except KeyboardInterrupt:
        raise UserError(step, "interrupted", hint="run the task again to resume", code=130) from None
    if check and result.returncode != 0:
        detail = failure_reason(result.stderr or result.stdout or "") if capture else ""
        tail = f": {detail}" if detail else ""
        raise UserError(step, f"`{quote(cmd)}` failed with exit code {result.returncode}{tail}")
    return result


def output(step: str, cmd: list[str], **kw) -> str:
    """Run a command that must succeed and return its stripped stdout (never dry)."""
    return run(step, cmd, capture=True, **kw).stdout.strip()


def stream(step: str, cmd: list[str], *, cwd: Path, env: dict, log: Path,
           on_line: Callable[[str], None] | None = None) -> int:
    """Run a long command, writing all output to a log and each line to on_line.

    Returns the exit code. Ctrl-C stops the child and raises a one-line UserError.
    """
    require(step, cmd[0], path=env.get("PATH"))
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", buffering=1) as log_file:  # line-buffered: `tail -f` works
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                text=True, errors="replace", start_new_session=True)
        try:
            for line in proc.stdout:
                log_file.write(line)
                if on_line:
                    on_line(line.rstrip("\n"))
            return proc.wait()
        except KeyboardInterrupt:
            # The child runs in its own session; stop the whole group.
            try:
                os.killpg(proc.pid, 2)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                proc.kill()
            raise UserError(step, "interrupted", hint=f"run the task again to resume (log: {log})",
                            code=130) from None
