"""Bad inputs across every task, through the real `invoke` in a subprocess.

Each row of the table is one bad input: a setting (invoke.yaml is the
project's, so -f FILE and INVOKE_MPFORGE_* stand in for a user's edits), a
hostile profile, a dist folder that points outside itself, a release file
with the wrong types, a read-only workdir. For each the test asserts a
non-zero exit, exactly one `error:` line holding the expected words, no
traceback, that the user's files are unchanged and that nothing was written
outside the case's own workdir (its temp folder stays empty, the project
tree is the same afterwards).

The cases run in parallel threads (each invoke start costs ~0.3 s).
No board is needed: board tasks fail on their inputs before any port opens,
except the ones pointed at a port that does not exist.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import ROOT, run_with_stderr_on_a_terminal, wrapped_at_spaces
from harness.images import write_fake_build
from mpforge.dist import collect
from mpforge.model import settings as settings_mod

GOOD_PROFILE = (ROOT / "boards" / "esp32s3-n16r8.toml").read_text()


@dataclass
class Case:
    id: str
    args: list[str]
    expect: str  # words the one error line must hold
    env: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)  # user files the case makes: name -> text (in the case folder)


def profile_with(old: str, new: str) -> str:
    assert old in GOOD_PROFILE
    return GOOD_PROFILE.replace(old, new, 1)


SETTINGS = [
    Case("env-timeout-not-a-number", ["status"], "INVOKE_MPFORGE_VERIFY_TIMEOUT='soon'",
         env={"INVOKE_MPFORGE_VERIFY_TIMEOUT": "soon"}),
    Case("env-list-setting", ["ci"], "INVOKE_MPFORGE_CI_PROFILES: invoke cannot read a list from the environment",
         env={"INVOKE_MPFORGE_CI_PROFILES": "esp32s3-n16r8,esp32s3-n8r8"}),
    Case("env-baud-not-a-number", ["erase", "--port", "socket://127.0.0.1:9"], "INVOKE_MPFORGE_BAUD='fast'",
         env={"INVOKE_MPFORGE_BAUD": "fast"}),
    Case("env-bool-word", ["install-prereqs"], "invoke reads only 1 (true) and 0 (false)",
         env={"INVOKE_MPFORGE_OS_PACKAGES": "no"}),
    Case("env-baud-negative", ["ports"], "mpforge.baud is -5", env={"INVOKE_MPFORGE_BAUD": "-5"}),
    Case("env-jobs-negative", ["build"], "mpforge.jobs is -1", env={"INVOKE_MPFORGE_JOBS": "-1"}),
    Case("env-typo", ["fetch"], "did you mean INVOKE_MPFORGE_BAUD", env={"INVOKE_MPFORGE_BAUDD": "115200"}),
    Case("env-version-not-a-version", ["fetch"], "mpforge.micropython.version is 'latest'",
         env={"INVOKE_MPFORGE_MICROPYTHON_VERSION": "latest"}),
    Case("env-idf-version-not-a-version", ["install-prereqs"], "mpforge.idf.version is 'five'",
         env={"INVOKE_MPFORGE_IDF_VERSION": "five"}),
    Case("file-typo", ["-f", "{case}/my.yaml", "build-all"], "did you mean mpforge.baud?",
         files={"my.yaml": "mpforge:\n  bauds: 115200\n"}),
    Case("file-nested-typo", ["-f", "{case}/my.yaml", "overlay"], "did you mean mpforge.micropython.version?",
         files={"my.yaml": "mpforge:\n  micropython:\n    verison: v1.28.0\n"}),
    Case("file-timeout-negative", ["-f", "{case}/my.yaml", "verify", "--port", "socket://127.0.0.1:9"],
         "mpforge.verify.timeout is -3", files={"my.yaml": "mpforge:\n  verify:\n    timeout: -3\n"}),
    Case("file-connect-attempts-text", ["-f", "{case}/my.yaml", "flash"], "mpforge.connect_attempts is 'many'",
         files={"my.yaml": "mpforge:\n  connect_attempts: many\n"}),
    Case("file-after-soft-reset", ["-f", "{case}/my.yaml", "backup", "--port", "socket://127.0.0.1:9"],
         "'after' is 'soft-reset', which esptool cannot do on an ESP32-S3",
         files={"my.yaml": "mpforge:\n  after: soft-reset\n"}),
    Case("file-read-timeout-short", ["-f", "{case}/my.yaml", "restore", "--port", "socket://127.0.0.1:9"],
         "'read_timeout' is 0.1 s", files={"my.yaml": "mpforge:\n  read_timeout: 0.1\n"}),
    Case("serve-dir-missing", ["serve", "--dir", "{case}/none", "--http-port", "0"], "is not a folder"),
    Case("restore-backup-missing", ["restore", "--port", "socket://127.0.0.1:9", "--backup", "{case}/none"],
         "--backup", files={}),
    Case("file-os-packages-text", ["-f", "{case}/my.yaml", "install-prereqs"], "mpforge.os_packages is 'no'",
         files={"my.yaml": "mpforge:\n  os_packages: \"no\"\n"}),
    Case("file-idf-dir-a-number", ["-f", "{case}/my.yaml", "config"], "mpforge.idf.dir is 5",
         files={"my.yaml": "mpforge:\n  idf:\n    dir: 5\n"}),
    Case("file-mpforge-not-a-table", ["-f", "{case}/my.yaml", "status"], "where a table of settings belongs",
         files={"my.yaml": "mpforge: 5\n"}),
    Case("file-web-tools-a-number", ["-f", "{case}/my.yaml", "dist"], "mpforge.dist.web_tools is 5",
         files={"my.yaml": "mpforge:\n  dist:\n    web_tools: 5\n"}),
    Case("file-section-typo", ["-f", "{case}/my.yaml", "fetch"], "unknown section 'mpforg'; did you mean mpforge?",
         files={"my.yaml": "mpforg:\n  baud: 115200\n"}),
    Case("file-a-list", ["-f", "{case}/my.yaml", "dist"], "has the wrong shape", files={"my.yaml": "- a\n- b\n"}),
    Case("profile-path-missing", ["overlay", "--profile", "{case}/nowhere.toml"], "nowhere.toml' is not a .toml file that exists"),
    Case("file-not-yaml", ["-f", "{case}/my.yaml", "mpy-cross"], "not valid YAML",
         files={"my.yaml": "mpforge: [1,\n"}),
    Case("file-missing", ["-f", "{case}/nowhere.yaml", "status"], "nowhere.yaml (-f) does not exist"),
    Case("releases-file-commit-a-number", ["-f", "{case}/my.yaml", "fetch", "--micropython", "v1.29.0"],
         "'commit' must be a string",
         files={"my.yaml": "mpforge:\n  releases_file: {case}/rel.toml\n",
                "rel.toml": '[[release]]\nversion = "v1.29.0"\ncommit = 1234\nidf = "v5.5.1"\nline = "v1.26"\n'}),
    Case("releases-file-release-a-table", ["-f", "{case}/my.yaml", "status"], "'release' must be a list",
         files={"my.yaml": "mpforge:\n  releases_file: {case}/rel.toml\n",
                "rel.toml": '[release]\nversion = "v1.29.0"\n'}),
    Case("releases-file-version-a-word", ["-f", "{case}/my.yaml", "status"], "'version' is 'next'",
         files={"my.yaml": "mpforge:\n  releases_file: {case}/rel.toml\n",
                "rel.toml": '[[release]]\nversion = "next"\ncommit = "' + "a" * 40 + '"\nidf = "v5.5.1"\nline = "v1.26"\n'}),
    Case("releases-file-commit-a-number-listed", ["-f", "{case}/my.yaml", "releases", "--json"],
         "'commit' must be a string, not 1234",
         files={"my.yaml": "mpforge:\n  releases_file: {case}/rel.toml\n",
                "rel.toml": '[[release]]\nversion = "v1.29.0"\ncommit = 1234\nidf = "v5.5.1"\nline = "v1.26"\n'}),
    Case("file-typo-boards", ["-f", "{case}/my.yaml", "boards"], "did you mean mpforge.profile?",
         files={"my.yaml": "mpforge:\n  profil: esp32s3-n8r8\n"}),
    Case("env-profile-without-board-auto", ["status"], "profile_without_board is 'auto'; name a profile",
         env={"INVOKE_MPFORGE_PROFILE_WITHOUT_BOARD": "auto"}),
    Case("env-profile-without-board-unknown", ["build-all"], "unknown profile 'esp32s3-n99r9'",
         env={"INVOKE_MPFORGE_PROFILE_WITHOUT_BOARD": "esp32s3-n99r9"}),
    Case("file-after-unknown", ["-f", "{case}/my.yaml", "flash", "--port", "socket://127.0.0.1:9"],
         "'after' is 'sometimes'; expected one of auto, hard-reset",
         files={"my.yaml": "mpforge:\n  after: sometimes\n"}),
    Case("build-all-port-unknown-release", ["build-all", "--port", "socket://127.0.0.1:9", "-m", "v9.9.9"],
         "unknown MicroPython release 'v9.9.9'"),
    Case("verify-auto-unknown-release", ["verify", "--port", "socket://127.0.0.1:9", "-m", "v9.9.9"],
         "unknown MicroPython release 'v9.9.9'"),
    Case("flash-auto-unknown-release", ["flash", "--port", "socket://127.0.0.1:9", "-m", "v9.9.9"],
         "unknown MicroPython release 'v9.9.9'"),
]

DISTS = [
    Case("dist-image-absolute", ["flash", "--port", "socket://127.0.0.1:9", "--firmware", "{case}/abs"],
         "names image '/etc/passwd', not a plain file name"),
    Case("dist-image-dotdot", ["verify", "--port", "socket://127.0.0.1:9", "--firmware", "{case}/up"],
         "names image '../micropython.bin', not a plain file name"),
    Case("dist-sums-dotdot", ["flash", "--port", "socket://127.0.0.1:9", "--firmware", "{case}/sums-up"],
         "names '../firmware.bin', not a plain file name"),
    Case("dist-sums-nul", ["flash", "--port", "socket://127.0.0.1:9", "--firmware", "{case}/sums-nul"],
         "not a plain file name"),
    Case("serve-dist-sums-dotdot", ["serve", "--dir", "{case}/sums-up", "--http-port", "0"],
         "names '../firmware.bin', not a plain file name"),
    Case("dist-sums-newline-name", ["verify", "--port", "socket://127.0.0.1:9", "--firmware", "{case}/sums-ctl"],
         "not a plain file name"),
    Case("serve-dist-image-dotdot", ["serve", "--dir", "{case}/up", "--http-port", "0"],
         "names image '../micropython.bin', not a plain file name"),
]

PROFILE_ARG = ["--profile", "{case}/board.toml"]
PROFILES = [
    Case("profile-newline-in-board-name", ["overlay", *PROFILE_ARG], "'build.board_name' holds a control character",
         files={"board.toml": profile_with('board_name = "ESP32S3', 'board_name = "x\\nset(X 1)\\n')}),
    Case("profile-cmake-in-board-name", ["config", *PROFILE_ARG], "'build.board_name' is",
         files={"board.toml": profile_with('board_name = "ESP32S3', 'board_name = "x\\" ${ENV{HOME}} #')}),
    Case("profile-variant-not-ascii", ["build", *PROFILE_ARG], "'build.variant' is 'FLÄSH'",
         files={"board.toml": profile_with('variant = "FLASH_16M_SPIRAM_OCT"', 'variant = "FLÄSH"')}),
    Case("profile-board-a-path", ["dist", *PROFILE_ARG], "'build.board' is '../../../etc'",
         files={"board.toml": profile_with('board = "ESP32_GENERIC_S3"', 'board = "../../../etc"')}),
    Case("profile-title-nul", ["status", *PROFILE_ARG], "'board.name' holds a control character",
         files={"board.toml": profile_with('name = "ESP32-S3', 'name = "\\u0000ESP32-S3')}),
    Case("profile-not-toml", ["build-all", *PROFILE_ARG], "not valid TOML", files={"board.toml": "[build\n"}),
    Case("profile-frozen-manifest", ["build", *PROFILE_ARG], "a profile may name only a folder of modules",
         files={"board.toml": profile_with("[build]", '[frozen]\npath = "manifest.py"\n\n[build]'),
                "manifest.py": "import os\nos.system('touch /tmp/pwned')\n"}),
    Case("profile-other-chip", ["mpy-cross", *PROFILE_ARG], "'board.chip' is 'esp32c3'",
         files={"board.toml": profile_with('chip = "esp32s3"', 'chip = "esp32c3"')}),
    Case("profile-not-utf8", ["overlay", *PROFILE_ARG], "not UTF-8 text", files={"board.toml": b"[board]\nname = \"\xff\"\n"}),
    Case("profile-a-folder", ["config", "--profile", "{case}/folder.toml"], "it is a folder where a file belongs",
         files={"folder.toml/keep": ""}),
    Case("workdir-a-file", ["fetch"], "is a file, not a folder", env={"INVOKE_MPFORGE_WORKDIR": "{case}/afile/work"},
         files={"afile": "mine\n"}),
    Case("unknown-release", ["fetch", "--micropython", "v9.9.9"], "v9.9.9"),
    Case("frozen-missing", ["build", "--frozen", "{case}/nowhere"], "nowhere does not exist"),
    Case("backend-unknown", ["build", "--backend", "vm"], "build.backend is 'vm'; use native or container"),
    Case("c-module-missing", ["build", "--c-module", "{case}/nowhere"], "/nowhere does not exist (a folder with a micropython.cmake"),
    Case("c-module-make-only", ["build-all", "--c-module", "{case}/mod"], "has only a micropython.mk",
         files={"mod/micropython.mk": "SRC_USERMOD_C += $(USERMOD_DIR)/mod.c\n", "mod/mod.c": "int x;\n"}),
    Case("file-c-modules-not-paths", ["-f", "{case}/my.yaml", "build"], "mpforge.build.c_modules is 3, not a list",
         files={"my.yaml": "mpforge:\n  build:\n    c_modules: 3\n"}),
    # A shared profile's C module is never run: its cmake would write outside the workdir.
    Case("profile-c-module-request", ["build", *PROFILE_ARG], "asks for the C module",
         files={"board.toml": GOOD_PROFILE + '\n[c_modules]\nrequest = ["evil"]\n',
                "evil/micropython.cmake": 'add_library(usermod_evil INTERFACE)\n'
                                          'target_link_libraries(usermod INTERFACE usermod_evil)\n'
                                          'file(WRITE /tmp/mpforge-pwned "")\n'}),
    Case("env-backend-unknown", ["status"], "build.backend is 'vm'", env={"INVOKE_MPFORGE_BUILD_BACKEND": "vm"}),
    Case("container-image-not-a-name", ["build", "--backend", "container"], "which is not an image name",
         env={"INVOKE_MPFORGE_CONTAINER_IMAGE": "Not An Image"}),
    Case("ci-unknown-profile", ["ci", "-B", "nosuch", "--dest", "{case}/wf.yml"], "unknown profile 'nosuch'"),
    Case("serve-not-a-dist", ["serve", "--dir", "{case}"], "is not a dist folder and holds none"),
    Case("detect-new-profile-two-ports", ["detect", "-P", "socket://127.0.0.1:9", "-P", "socket://127.0.0.1:10",
                                          "--new-profile", "{case}/mine.toml"], "give one --port, not 2"),
    Case("detect-new-profile-exists", ["detect", "-P", "socket://127.0.0.1:9", "--new-profile", "{case}/mine.toml"],
         "mine.toml exists; --new-profile never overwrites a file", files={"mine.toml": GOOD_PROFILE}),
    Case("detect-new-profile-not-plain", ["detect", "-P", "socket://127.0.0.1:9", "--new-profile", "../../evil"],
         "is not a plain profile name"),
    Case("detect-new-profile-stem-not-plain", ["detect", "-P", "socket://127.0.0.1:9",
                                               "--new-profile", "{case}/my board.toml"], "the file name before .toml"),
    Case("detect-new-profile-no-folder", ["detect", "-P", "socket://127.0.0.1:9",
                                          "--new-profile", "{case}/nowhere/mine.toml"], "does not exist; make it first"),
]

BUILDS = [
    Case("build-folder-image-absolute", ["flash", "--port", "socket://127.0.0.1:9", "--firmware", "{case}/build-abs"],
         "'/etc/passwd' is not a path inside the build folder"),
    Case("build-folder-image-dotdot", ["flash", "--port", "socket://127.0.0.1:9", "--firmware", "{case}/build-up"],
         "'../../../etc/passwd' points outside the build folder"),
    Case("build-folder-offset-garbage", ["flash", "--port", "socket://127.0.0.1:9", "--firmware", "{case}/build-off"],
         "not a flasher_args.json"),
]

# releases-add: the tag is data (it reaches git and a path), and so are --tree, --url and the file.
MINE = {"INVOKE_MPFORGE_RELEASES_FILE": "{case}/mine.toml"}
RELEASES_ADD = [
    Case("releases-add-tag-shell", ["releases-add", "v1.29.0;touch x"], "'v1.29.0;touch x' is not a release tag",
         env=MINE),
    Case("releases-add-tag-path", ["releases-add", "../../v1.29.0"], "'../../v1.29.0' is not a release tag", env=MINE),
    Case("releases-add-tag-option", ["releases-add", "--tag=--upload-pack=touch"], "is not a release tag", env=MINE),
    Case("releases-add-no-file", ["releases-add", "v1.29.0"], "no releases_file is set",
         env={"INVOKE_MPFORGE_RELEASES_FILE": ""}),
    Case("releases-add-file-a-folder", ["releases-add", "v1.29.0"], "is not a file",
         env={"INVOKE_MPFORGE_RELEASES_FILE": "{case}/folder"}, files={"folder/x": "x"}),
    Case("releases-add-file-broken", ["releases-add", "v1.29.0", "--tree", "{case}/plain"], "'line' must be one of",
         env=MINE, files={"mine.toml": '[[release]]\nversion = "v1.29.0"\nidf = "v5.5.2"\nline = "v9"\n',
                          "plain/x": "x"}),
    Case("releases-add-tree-not-git", ["releases-add", "v1.29.0", "--tree", "{case}/plain"], "is not a git checkout",
         env=MINE, files={"plain/x": "x"}),
    Case("releases-add-tree-missing", ["releases-add", "v1.29.0", "--tree", "{case}/nowhere"], "does not exist",
         env=MINE),
    Case("releases-add-url-option", ["releases-add", "v1.29.0", "--url=--upload-pack=touch"], "is not a git URL",
         env=MINE),
]

CASES = SETTINGS + DISTS + PROFILES + BUILDS + RELEASES_ADD
DIST_CASES = {c.id for c in DISTS}
BUILD_CASES = {c.id for c in BUILDS}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _resign(folder: Path, info: dict | None = None, extra_lines: list[str] = ()) -> None:
    """Rewrite build-info.json (when given) and SHA256SUMS so the sums match: a tampered
    dist that a naive loader would accept."""
    if info is not None:
        (folder / "build-info.json").write_text(json.dumps(info))
    lines = [f"{_sha(p.read_bytes())}  {p.name}" for p in sorted(folder.iterdir()) if p.name != "SHA256SUMS"]
    (folder / "SHA256SUMS").write_text("\n".join([*lines, *extra_lines]) + "\n")


def _hostile_dists(base: Path, good: Path) -> None:
    import shutil

    for name in ("abs", "up", "sums-up", "sums-nul", "sums-ctl"):
        shutil.copytree(good, base / name)
    info = json.loads((good / "build-info.json").read_text())
    for name, target in (("abs", "/etc/passwd"), ("up", "../micropython.bin")):
        changed = json.loads(json.dumps(info))
        changed["images"][-1]["file"] = target
        _resign(base / name, changed)
    digest = _sha(b"x")
    _resign(base / "sums-up", extra_lines=[f"{digest}  ../firmware.bin"])
    _resign(base / "sums-nul", extra_lines=[f"{digest}  firm\0ware.bin"])
    _resign(base / "sums-ctl", extra_lines=[f"{digest}  firm\x1bware.bin"])


def _hostile_builds(base: Path) -> None:
    """Build folders whose flasher_args.json points outside them (flash --firmware BUILD_DIR)."""
    for name, change in (("build-abs", {"0x10000": "/etc/passwd"}), ("build-up", {"0x10000": "../../../etc/passwd"}),
                         ("build-off", {"0xZZ": "micropython.bin"})):
        write_fake_build(base / name, app_size=16 * 1024)
        args = json.loads((base / name / "flasher_args.json").read_text())
        if "0xZZ" in change:
            args["flash_files"].update(change)
        else:
            args["flash_files"] = {**args["flash_files"], **change}
        (base / name / "flasher_args.json").write_text(json.dumps(args))


def _tree_snapshot() -> dict[str, tuple[int, int]]:
    """The project tree (what git sees, untracked too), by path: (size, mtime)."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    snap = {}
    for rel in filter(None, out):
        path = ROOT / rel
        if path.is_file():
            st = path.stat()
            snap[rel] = (st.st_size, st.st_mtime_ns)
    return snap


def _run_case(case: Case, base: Path, good_dist: Path, terminal: bool = False) -> dict:
    """The case's run (terminal: with stderr on a pseudo-terminal of 80 columns)."""
    folder = base / case.id
    folder.mkdir()
    (folder / "tmp").mkdir()
    fill = lambda text: text.replace("{case}", str(folder))  # noqa: E731
    for name, text in case.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            (folder / name).write_bytes(text)
        else:
            (folder / name).write_text(fill(text))
    if case.id in DIST_CASES:
        _hostile_dists(folder, good_dist)
    if case.id in BUILD_CASES:
        _hostile_builds(folder)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_MPFORGE_")}
    env.update({"INVOKE_MPFORGE_WORKDIR": str(folder / "work"),
                "INVOKE_MPFORGE_IDF_TOOLS_PATH": str(folder / "espressif"),
                "INVOKE_MPFORGE_BEFORE": "no-reset", "INVOKE_MPFORGE_AFTER": "no-reset",
                "TMPDIR": str(folder / "tmp")})
    env.update({k: fill(v) for k, v in case.env.items()})
    argv = [sys.executable, "-m", "invoke", *map(fill, case.args)]
    try:
        if terminal:
            result = run_with_stderr_on_a_terminal(argv, columns=80, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
        else:
            result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                                    stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:  # e.g. serve accepted the input and is serving: a failure
        result = subprocess.CompletedProcess(argv, 0, str(exc.stdout or ""), f"(timed out) {exc.stderr or ''}")
    changed = [str(p) for p, data in before.items() if not p.is_file() or p.read_bytes() != data]
    leftovers = [p.name for p in (folder / "tmp").iterdir()]
    return {"result": result, "changed": changed, "leftovers": leftovers, "folder": str(folder)}


@pytest.fixture(scope="module")
def good_dist(tmp_path_factory):
    base = tmp_path_factory.mktemp("good-dist")
    s = settings_mod.from_config({"mpforge": {"workdir": str(base / "gw"), "micropython": {"dir": str(base / "mp")}}})
    job = settings_mod.job(s, "esp32s3-n16r8", "v1.28.0")
    write_fake_build(job.build_dir, app_size=64 * 1024)
    return collect.collect(job, base / "good")  # no IDF here: the real config resolver falls back


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, good_dist):
    base = tmp_path_factory.mktemp("bad-inputs")
    project_before = _tree_snapshot()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip((c.id for c in CASES), pool.map(lambda c: _run_case(c, base, good_dist), CASES)))
    results["__project_changed__"] = sorted(set(_tree_snapshot().items()) ^ set(project_before.items()))
    return results


@pytest.fixture(scope="module")
def on_a_terminal(tmp_path_factory, good_dist):
    """Every case again, with stderr on a terminal of 80 columns."""
    base = tmp_path_factory.mktemp("bad-inputs-on-a-terminal")
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip((c.id for c in CASES),
                        pool.map(lambda c: _run_case(c, base, good_dist, terminal=True), CASES)))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line(outcomes, case):
    outcome = outcomes[case.id]
    result = outcome["result"]
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    assert case.expect in errors[0], errors[0]
    assert outcome["changed"] == [], "user files changed: " + ", ".join(outcome["changed"])
    assert outcome["leftovers"] == [], "left in the temp folder: " + ", ".join(outcome["leftovers"])


def test_table_covers_every_task_and_enough_inputs():
    def task_of(args):
        rest = list(args)
        while rest[0].startswith("-"):
            rest = rest[2:] if rest[0] == "-f" else rest[1:]
        return rest[0]

    tasks = {task_of(case.args) for case in CASES}
    listed = subprocess.run([sys.executable, "-m", "invoke", "--list", "--list-format=json"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    every = {task["name"] for task in json.loads(listed)["tasks"]}
    assert every <= tasks, f"tasks without a bad-input case: {sorted(every - tasks)}"
    assert len(CASES) >= 30


def test_nothing_outside_the_workdirs_changed(outcomes):
    assert outcomes["__project_changed__"] == []


def test_every_error_fits_80_columns_on_a_terminal(outcomes, on_a_terminal):
    """The one error line of every case, on a terminal of 80 columns: wrapped at spaces by the
    renderer (a long path may fold), never cut by the terminal mid-word; off a terminal the
    same text is one line (the case above)."""
    wrapped = 0
    for case in CASES:
        piped = [line.replace(outcomes[case.id]["folder"], on_a_terminal[case.id]["folder"])  # its own folder
                 for line in outcomes[case.id]["result"].stderr.splitlines() if line.startswith("error: ")]
        shown = on_a_terminal[case.id]["result"].stderr.splitlines()
        start = next(i for i, line in enumerate(shown) if line.startswith("error: "))
        block = [shown[start], *(line for line in shown[start + 1:] if line.startswith("       "))]
        assert len(block) == len(shown) - start, f"{case.id}: lines after the error: {shown[start:]}"
        wrapped_at_spaces(piped[0], block, 80)
        wrapped += len(block) > 1
    assert wrapped >= 10  # most of these lines are longer than 80 columns
