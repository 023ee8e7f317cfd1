"""Upstream tier (opt-in): the config step against real MicroPython releases and real ESP-IDF Kconfig.

    MPFORGE_UPSTREAM_MICROPYTHON=/path/to/micropython  (a clone or bare mirror with the release tags)
    MPFORGE_UPSTREAM_IDF=/path/to/esp-idf              (a clone or bare mirror with the IDF tags)
    MPFORGE_UPSTREAM_PREVIEW=1c3c201149                (optional: the commit a release mpforge does not
                                                        pin is checked on when its tag is not in the clone,
                                                        e.g. the v1.29.0 preview; else that release skips)
    MPFORGE_UPSTREAM_PYTHON50=/path/to/python          (optional: a Python with kconfiglib and future,
                                                        for IDF v5.0's own confgen.py; default: this one)

Every profile in boards/ runs, esp32s3-n16r8-ota (4 MB app slots, OTA) too:
its table is the variant's own and is read by the IDF's gen_esp32part.py.

Each supported release is checked out in a temporary `git worktree` (no
submodules: the config needs none) and every profile is overlaid on it.
Without an IDF only the MicroPython half runs (cmake evaluation of the real
board files); with one, `invoke config --json` runs for every pair against
the IDF version the release pins, whose Kconfig, confgen and gen_esp32part.py
are taken from the clone with `git archive` (only the parts config reads, so a
mirror without the large example blobs works too). A table of the results is
printed at the end of the module, whatever the order the tests ran in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from mpforge.config import check as configcheck
from mpforge.build import overlay
from mpforge.image import layout, partitions
from mpforge.model import profiles
from mpforge.model import releases
from mpforge.model import settings
from mpforge.errors import UserError

MP_REPO = os.environ.get("MPFORGE_UPSTREAM_MICROPYTHON")
IDF_REPO = os.environ.get("MPFORGE_UPSTREAM_IDF")
PREVIEW = os.environ.get("MPFORGE_UPSTREAM_PREVIEW")
pytestmark = pytest.mark.skipif(not MP_REPO, reason="upstream tier: set MPFORGE_UPSTREAM_MICROPYTHON to a MicroPython "
                                                    "clone (and MPFORGE_UPSTREAM_IDF to an ESP-IDF clone)")
RELEASES = list(releases.RELEASES)
PROFILES = profiles.available()
RESULTS: dict[tuple[str, str], str] = {}


def git(repo, *args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """release -> a worktree of the MicroPython clone at that release's tag (removed afterwards)."""
    root = tmp_path_factory.mktemp("upstream")
    made = {}
    try:
        pins = []
        for version in RELEASES:
            dest = root / f"micropython-{version}"
            ref, release = version, releases.RELEASES[version]
            if not release.commit and git(MP_REPO, "rev-parse", "-q", "--verify", f"{version}^{{commit}}").returncode:
                if not PREVIEW:
                    continue  # an unpinned release whose tag this clone lacks: its tests skip
                ref = PREVIEW
            result = git(MP_REPO, "worktree", "add", "--detach", str(dest), ref)
            if result.returncode != 0:
                pytest.fail(f"cannot check out {ref} from {MP_REPO}: {result.stderr.strip()}")
            head = git(dest, "rev-parse", "HEAD").stdout.strip()
            if release.commit:
                assert head == release.commit, f"{version} in {MP_REPO} is {head}, mpforge pins another"
            else:  # checked on the preview: pinned to it for this run only, in a file of the test's own
                pins.append(f'[[release]]\nversion = "{version}"\ncommit = "{head}"\nidf = "{release.idf}"\n'
                            f'idf_min = "{release.idf_min}"\nline = "{release.line}"\n')
            made[version] = dest
        (root / "releases.toml").write_text("\n".join(pins))
        yield root, made
    finally:
        for dest in made.values():
            git(MP_REPO, "worktree", "remove", "--force", str(dest))
        git(MP_REPO, "worktree", "prune")


def _wanted(path: str) -> bool:
    """The files of an IDF tree the config step reads."""
    name = path.rsplit("/", 1)[-1]
    return (name.startswith(("Kconfig", "sdkconfig.rename")) or path.startswith("tools/kconfig_new/")
            or path in ("tools/cmake/version.cmake", "components/partition_table/gen_esp32part.py"))


def idf_tree(root: Path, tag: str) -> Path:
    """The parts of ESP-IDF `tag` the config step reads, written out from the clone's objects.

    File by file (git ls-tree + cat-file), so a mirror that lacks some large
    unrelated blobs (example images) still gives them."""
    dest = root / f"esp-idf-{tag}"
    if dest.is_dir():
        return dest
    listing = git(IDF_REPO, "ls-tree", "-r", tag)
    if listing.returncode != 0:
        pytest.fail(f"cannot list ESP-IDF {tag} in {IDF_REPO}: {listing.stderr.strip()}")
    entries = [line.split(None, 3) for line in listing.stdout.splitlines()]
    wanted = [(sha, path) for _mode, kind, sha, path in entries if kind == "blob" and _wanted(path)]
    batch = subprocess.run(["git", "-C", IDF_REPO, "cat-file", "--batch"], capture_output=True,
                           input="".join(f"{sha}\n" for sha, _ in wanted).encode())
    data, pos = batch.stdout, 0
    for sha, path in wanted:
        header_end = data.index(b"\n", pos)
        size = int(data[pos:header_end].split()[2])
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data[header_end + 1:header_end + 1 + size])
        pos = header_end + 1 + size + 1
    return dest


def job_for(root: Path, tree: Path, profile: str, version: str):
    s = settings.from_config({"mpforge": {"workdir": str(root / "work"), "micropython": {"dir": str(tree)}}})
    return settings.job(s, profile, version)


@pytest.mark.parametrize("version", RELEASES)
def test_board_cmake_on_real_trees(trees, version):
    """MicroPython half (no IDF): every profile overlaid; the real board files, run by cmake, end with the variant's."""
    root, made = trees
    if version not in made:
        pytest.skip(f"{version} is not pinned and not in {MP_REPO}: set MPFORGE_UPSTREAM_PREVIEW to a commit")
    tree = made[version]
    line = releases.RELEASES[version].line
    stock = job_for(root, tree, PROFILES[0], version)
    if line == "v1.22":  # before the overlay: the port ignores the unknown variant
        base = configcheck.board_defaults(stock, releases.RELEASES[version].idf)
        assert not any("mpforge" in e for e in base.entries)
    else:
        with pytest.raises(UserError, match="Invalid MICROPY_BOARD_VARIANT specified"):
            configcheck.board_defaults(stock, releases.RELEASES[version].idf)
    for name in PROFILES:
        job = job_for(root, tree, name, version)
        overlay.apply(job)
        defaults = configcheck.board_defaults(job, releases.RELEASES[version].idf)
        variant = configcheck._variant_entries(job)
        assert list(defaults.entries[-len(variant):]) == variant, (name, defaults.entries)
        assert defaults.board_name == job.profile.board_name
        assert defaults.target == "esp32s3"
        table = partitions.parse_csv((job.port_dir / configcheck._expected_csv(job)).read_text())
        assert partitions.problems(table, job.profile.flash_size) == [], (name, table)
        facts = overlay.line_spec(line)["layout"]
        # The layout mpforge plans is the table the release really uses: the port's own
        # for a profile without [partitions], the variant's own for one with it.
        assert table == layout.plan(job.profile.partitions or layout.DEFAULT, job.profile.flash_size,
                                    facts["fs_made_at_boot"]), (name, table)
        if (version, name) not in RESULTS:
            RESULTS[(version, name)] = "cmake ok"
    if (tree / "ports/esp32/boards/sdkconfig.idf52").is_file():  # v1.23-v1.24: only with IDF 5.2 or newer
        assert "boards/sdkconfig.idf52" in configcheck.board_defaults(job, "v5.2.2").entries
        assert "boards/sdkconfig.idf52" not in configcheck.board_defaults(job, "v5.0.4").entries


def _python_for(idf_tag: str) -> str:
    if releases.version_tuple(idf_tag) >= (5, 1, 0):
        return sys.executable
    python = os.environ.get("MPFORGE_UPSTREAM_PYTHON50", sys.executable)
    probe = subprocess.run([python, "-c", "import kconfiglib, future"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"IDF {idf_tag}'s confgen.py needs kconfiglib and future: set MPFORGE_UPSTREAM_PYTHON50 "
                    "to a Python that has them")
    return python


@pytest.mark.skipif(not IDF_REPO, reason="set MPFORGE_UPSTREAM_IDF to an ESP-IDF clone for the Kconfig half")
@pytest.mark.parametrize("version", RELEASES)
def test_invoke_config_on_real_trees(trees, version, invoke_run):
    """`invoke config --json` for every profile: real board files, real IDF Kconfig, every setting matches."""
    root, made = trees
    if version not in made:
        pytest.skip(f"{version} is not pinned and not in {MP_REPO}: set MPFORGE_UPSTREAM_PREVIEW to a commit")
    release = releases.RELEASES[version]
    idf_dir = idf_tree(root, release.idf)
    python = _python_for(release.idf)
    failures = []
    for name in PROFILES:
        result = invoke_run("config", "--json", "--profile", name, "--micropython", version, env={
            "INVOKE_MPFORGE_MICROPYTHON_DIR": str(made[version]),
            "INVOKE_MPFORGE_IDF_DIR": str(idf_dir),
            "INVOKE_MPFORGE_IDF_PYTHON": python,
            "INVOKE_MPFORGE_RELEASES_FILE": str(root / "releases.toml"),  # the preview's pin, if any
            "INVOKE_MPFORGE_WORKDIR": str(root / "work"),  # the overlay state of test_board_cmake_on_real_trees
        })
        try:
            report = json.loads(result.stdout)
        except json.JSONDecodeError:
            RESULTS[(version, name)] = f"error: {result.stderr.strip().splitlines()[-1:]}"
            failures.append(name)
            continue
        bad = [f"{r['setting']}={r['got']}" for r in report["settings"] if not r["ok"]]
        idf52 = ((made[version] / "ports/esp32/boards/sdkconfig.idf52").is_file()
                 and releases.version_tuple(release.idf) >= (5, 2, 0))
        if idf52 != ("boards/sdkconfig.idf52" in report["defaults"]):
            bad.append(f"sdkconfig.idf52 {'missing from' if idf52 else 'wrongly in'} the defaults")
        fs = report["filesystem"]
        apps = [f"{p['label']} {p['size'] / 2**20:g}MB" for p in report["partitions"] if p["type"] == 0]
        profile = profiles.load(name)
        if profile.partitions and profile.partitions.ota:  # read by the IDF's own gen_esp32part.py
            rows = {r["setting"]: r for r in report["settings"]}
            if not rows.get("OTA slots", {}).get("ok"):
                bad.append(f"OTA slots={rows.get('OTA slots', {}).get('got')}")
            if [p["label"] for p in report["partitions"] if p["type"] == 0] != ["ota_0", "ota_1"]:
                bad.append(f"apps={apps}")
        RESULTS[(version, name)] = (f"ok ({release.idf}, {', '.join(apps)}, fs {fs['size'] / 2**20:.1f}MB)"
                                    if not bad else "MISMATCH " + ", ".join(bad))
        if result.returncode != 0 or bad:
            failures.append(f"{name}: {bad or result.stderr.strip()}")
    assert not failures, failures


@pytest.fixture(scope="module", autouse=True)
def results_table(request):
    """After the module's tests, whatever their order: the table of results on the terminal;
    every release that was checked has a result for every profile."""
    yield
    if not RESULTS:
        return
    width = max(len(p) for p in PROFILES)
    lines = [f"{'release':<9} {'profile':<{width}}  result"]
    lines += [f"{version:<9} {name:<{width}}  {RESULTS.get((version, name), '-')}"
              for version in RELEASES for name in PROFILES]
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    for line in ["", *lines]:
        reporter.write_line(line) if reporter else print(line)
    checked = {version for version, _ in RESULTS}
    missing = [f"{v} {p}" for v in checked for p in PROFILES if (v, p) not in RESULTS]
    assert not missing, f"no result for {', '.join(missing)}"
