"""Two mpforge processes on one workdir, a killed holder, a read-only workdir
and a full disk: each is one line or a wait, never a corrupted clone.

The first process holds the workdir lock through mpforge.lock itself (a small
Python process), the second is the real `invoke`. The read-only and full
disks are small tmpfs mounts; where the machine does not allow mounting
(not root, no CAP_SYS_ADMIN) those tests skip and say so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, one_line_error

HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from mpforge import lock
with lock.{kind}({name!r}):
    print("held", flush=True)
    sys.stdin.readline()
"""


def _hold(workdir: Path, kind: str = "workdir", env: dict | None = None) -> subprocess.Popen:
    script = HOLDER.format(root=str(ROOT), kind=kind, name=str(workdir))
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_run_refuses_with_no_wait(invoke_run, tmp_path):
    workdir = tmp_path / "work"
    holder = _hold(workdir)
    try:
        line = one_line_error(invoke_run("overlay", "--revert", "--no-wait"))
        assert f"workdir {workdir} is in use by pid {holder.pid}" in line
    finally:
        holder.communicate("\n", timeout=30)


def test_second_run_waits_then_runs(invoke_run, tmp_path):
    workdir = tmp_path / "work"
    holder = _hold(workdir)
    err_file = tmp_path / "second.err"
    with open(err_file, "w") as err:
        second = subprocess.Popen([sys.executable, "-m", "invoke", "overlay", "--revert"], cwd=ROOT, env=invoke_run.env,
                                  text=True, stdout=subprocess.PIPE, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while "waiting for" not in err_file.read_text() and second.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert second.poll() is None, err_file.read_text()  # it waits, it does not run alongside
        assert f"waiting for workdir {workdir}: in use by pid {holder.pid}" in err_file.read_text()
    finally:
        holder.communicate("\n", timeout=30)
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0, out + err_file.read_text()
    assert err_file.read_text().count("waiting for") == 1
    assert "nothing of mpforge's" in out


def test_a_board_in_use_is_refused_with_no_wait(invoke_run, tmp_path):
    """Port locks live in the user's lock folder ($XDG_RUNTIME_DIR/mpforge), shared by workdirs."""
    env = {**invoke_run.env, "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    port = "socket://127.0.0.1:9"
    holder = _hold(port, kind="port", env=env)
    try:
        for task in ("erase", "verify"):
            line = one_line_error(invoke_run(task, "--port", port, "--no-wait", env=env))
            assert f"port {port} is in use by pid {holder.pid}" in line, line
    finally:
        holder.communicate("\n", timeout=30)


def test_one_board_under_two_names_is_one_lock(invoke_run, tmp_path):
    """A device path and a link to it (as /dev/serial/by-id/... is to /dev/ttyACM0) name one
    board, so they share one lock. The "device" is a plain file: the lock is taken before the
    port is opened, and the refusal comes first."""
    env = {**invoke_run.env, "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    device = tmp_path / "ttyACM0"
    device.write_text("")
    by_id = tmp_path / "usb-Espressif_USB_JTAG_serial_debug_unit-if00"
    by_id.symlink_to(device)
    holder = _hold(device, kind="port", env=env)
    try:
        line = one_line_error(invoke_run("verify", "--port", str(by_id), "--no-wait", env=env))
        assert f"port {by_id} is in use by pid {holder.pid}" in line, line
    finally:
        holder.communicate("\n", timeout=30)


def test_a_killed_holder_never_blocks(invoke_run, tmp_path):
    holder = _hold(tmp_path / "work")
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    result = invoke_run("overlay", "--revert", "--no-wait")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "waiting" not in result.stderr


def _mount_tmpfs(path: Path, options: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True,
                            text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or 'mount failed'}); "
                    "needs root with CAP_SYS_ADMIN")


@pytest.fixture
def tmpfs(tmp_path):
    mounted = []

    def mount(name: str, options: str) -> Path:
        path = tmp_path / name
        _mount_tmpfs(path, options)
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_read_only_workdir_is_one_line(invoke_run, tmpfs):
    workdir = tmpfs("ro", "size=64k,ro")
    line = one_line_error(invoke_run("fetch", env={"INVOKE_MPFORGE_WORKDIR": str(workdir)}))
    assert str(workdir) in line and "read-only" in line and "mpforge.workdir" in line


def test_full_disk_shows_gits_reason_and_leaves_no_half_clone(mp, tmpfs):
    workdir = tmpfs("full", "size=128k")
    filler = workdir / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # fill it up: every block taken
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    line = one_line_error(mp("fetch", env={"INVOKE_MPFORGE_WORKDIR": str(workdir)}))
    assert "No space left on device" in line and "free some space" in line, line
    left = sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*") if p.is_file())
    assert left == ["filler", "mpforge.lock"], left  # no half clone


def test_read_only_dist_folder_is_one_line(invoke_run, tmpfs, tmp_path):
    from harness.images import write_fake_build
    from mpforge.model import settings as settings_mod

    mp = tmp_path / "mp"
    s = settings_mod.from_config({"mpforge": {"workdir": str(tmp_path / "work"), "micropython": {"dir": str(mp)}}})
    write_fake_build(settings_mod.job(s, "esp32s3-n16r8", "v1.28.0").build_dir, app_size=16 * 1024)
    dest = tmpfs("ro-dist", "size=64k,ro")
    line = one_line_error(invoke_run("dist", "--dest", str(dest), "--micropython", "v1.28.0",
                                     env={"INVOKE_MPFORGE_MICROPYTHON_DIR": str(mp)}))
    assert str(dest) in line and "read-only" in line
