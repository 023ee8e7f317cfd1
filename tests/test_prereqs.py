"""install-prereqs and OS packages, with a simulated apt.

A real apt-get install would change this machine and needs Debian's mirror,
so apt is simulated by three small scripts first on PATH (dpkg-query answers
from a file, apt-get logs its arguments and "installs" into that file).
"""

from __future__ import annotations

import os
import stat

from conftest import one_line_error

from mpforge.source import prereqs

APT = {
    "dpkg-query": '''#!/bin/sh
pkg="$3"
grep -qx "$pkg" "$FAKE_APT_DB" && { printf 'install ok installed'; exit 0; }
echo "dpkg-query: no packages found matching $pkg" >&2; exit 1
''',
    "apt-get": '''#!/bin/sh
echo "$*" >> "$FAKE_APT_LOG"
[ "$1" = install ] || exit 0
shift; shift
for p in "$@"; do echo "$p" >> "$FAKE_APT_DB"; done
''',
}


def fake_apt(tmp_path, installed):
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    for name, text in APT.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    db = tmp_path / "apt.db"
    db.write_text("".join(f"{p}\n" for p in installed))
    log = tmp_path / "apt.log"
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_APT_DB": str(db),
            "FAKE_APT_LOG": str(log), "INVOKE_MPFORGE_OS_PACKAGES": "1"}, db, log


def apt_packages():
    return next(m for m in prereqs.MANAGERS if m.name == "apt").packages


def test_missing_packages_without_yes_installs_nothing(mp, tmp_path):
    env, db, log = fake_apt(tmp_path, [p for p in apt_packages() if p not in ("flex", "gperf")])
    line = one_line_error(mp("install-prereqs", env=env))
    assert "missing OS packages: flex gperf" in line and "invoke install-prereqs --yes" in line
    assert "apt-get install -y flex gperf" in line
    assert not log.exists()  # nothing ran


def test_yes_installs_exactly_what_is_missing_then_is_up_to_date(mp, tmp_path):
    env, db, log = fake_apt(tmp_path, [p for p in apt_packages() if p != "ninja-build"])
    result = mp("install-prereqs", "--yes", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert log.read_text().splitlines() == ["update", "install -y ninja-build"]
    assert "running: apt-get install -y ninja-build" in result.stdout  # shown before it runs
    again = mp("install-prereqs", env=env)
    assert again.returncode == 0
    assert f"{len(apt_packages())} apt packages present, up to date" in again.stdout
    assert log.read_text().splitlines() == ["update", "install -y ninja-build"]


def test_sudo_only_when_not_root(monkeypatch):
    apt = next(m for m in prereqs.MANAGERS if m.name == "apt")
    monkeypatch.setattr(prereqs.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(prereqs.shell, "require", lambda *a, **k: None)
    assert prereqs._as_root(apt.install, apt)[:2] == ["sudo", "apt-get"]
    monkeypatch.setattr(prereqs.os, "geteuid", lambda: 0)
    assert prereqs._as_root(apt.install, apt)[0] == "apt-get"
    brew = next(m for m in prereqs.MANAGERS if m.name == "brew")
    monkeypatch.setattr(prereqs.os, "geteuid", lambda: 1000)
    assert prereqs._as_root(brew.install, brew)[0] == "brew"
