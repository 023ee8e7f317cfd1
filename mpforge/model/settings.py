"""Settings: invoke's configuration under the key ``mpforge``.

Precedence (invoke's own): invoke.yaml < INVOKE_MPFORGE_* environment
variables < ``invoke -f FILE`` < task flags (--profile, --micropython,
--port). Relative paths resolve against the project root.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mpforge import PROJECT_ROOT
from mpforge.model import chips, profiles
from mpforge.model import releases
from mpforge.model import taglock
from mpforge.errors import UserError
from mpforge.model.profiles import Profile
from mpforge.model.releases import Release

#: Where ESP-IDF runs (build.backend; source/toolchain.py acts on it).
BACKENDS = ("native", "container")


#: The `profile` setting (and --profile) that means "the profile that fits the board":
#: flash, verify and build-all --port choose it per board (board/fleet.py, docs/auto-profile.md);
#: a task without a board uses the `profile_without_board` setting instead.
AUTO_PROFILE = "auto"
#: The reference board: what a task without a board builds when the profile is auto.
REFERENCE_PROFILE = "esp32s3-n16r8"


@dataclass(frozen=True)
class Settings:
    workdir: Path
    profile: str  # a profile name or path, or "auto" (AUTO_PROFILE)
    micropython_version: str
    micropython_url: str
    micropython_dir: Path | None
    idf_version: str  # "" = the one the release pins
    idf_url: str
    idf_dir: Path | None
    idf_tools_path: Path
    releases_file: Path | None
    port: str
    baud: int
    jobs: int
    dry: bool = False
    yes: bool = False
    os_packages: bool = True  # check (and with --yes install) OS packages
    frozen: Path | None = None  # --frozen: user code to freeze, over the profile's
    backend: str = "native"  # where the IDF runs: native, or container (source/toolchain.py)
    container_engine: str = ""  # docker or podman; "" = whichever is on PATH
    container_image: str = "espressif/idf:{idf}"
    ci_profiles: tuple[str, ...] = ()  # `invoke ci`'s matrix; empty: the default profile
    ci_releases: tuple[str, ...] = ()  # empty: every release mpforge knows
    ci_pages: bool = False  # publish the dists and their install pages to GitHub Pages
    idf_python: str | None = None  # idf.python: a Python with kconfgen, instead of the IDF's environment
    before: str = "default-reset"  # esptool's reset into the bootloader
    after: str = "auto"  # esptool's reset after the work; auto: from the port's USB path
    connect_attempts: int = 7
    verify_timeout: float = 5.0  # verify.timeout: seconds to wait for the raw REPL
    read_timeout: float = 3.0  # seconds a port read waits while flashing (DEFAULT_READ_TIMEOUT or more)
    dist_web_tools: str = ""  # dist.web_tools: ESP Web Tools' script URL or a local copy ("" = the CDN)
    c_modules: tuple[Path, ...] = ()  # build.c_modules, then --c-module: user C modules (build/cmodules.py)
    profile_without_board: str = REFERENCE_PROFILE  # what `profile: auto` means with no board to ask

    @property
    def state_dir(self) -> Path:
        return self.workdir / "state"

    @property
    def default_profile(self) -> str:
        """The profile a task without a board uses: the setting, or profile_without_board for auto."""
        return profile_name(self, None)

    def auto_profile(self, flag) -> bool:
        """Whether the profile is chosen from the board: no --profile (None, or an empty list of
        them) and the setting is auto, or --profile auto (every one given)."""
        given = [flag] if isinstance(flag, str) else list(flag or [])
        return all(p == AUTO_PROFILE for p in given) if given else self.profile == AUTO_PROFILE


# Every setting under `mpforge` (dotted) and the kind of value it takes; a key
# not listed here is a typo. Checked by check(), the one place settings are
# validated, before anything reads them.
KINDS = {
    "workdir": "path", "profile": "text", "profile_without_board": "text", "port": "text",
    "releases_file": "path",
    "micropython.version": "version", "micropython.url": "url", "micropython.dir": "path",
    "idf.version": "version", "idf.url": "url", "idf.dir": "path", "idf.tools_path": "path",
    "idf.python": "path",
    "baud": "positive", "connect_attempts": "positive", "jobs": "count", "verify.timeout": "seconds",
    "before": "text", "after": "text", "os_packages": "bool", "read_timeout": "seconds",
    "dist.web_tools": "text",
    "build.backend": "text", "container.engine": "text", "container.image": "text",
    "ci.profiles": "names", "ci.releases": "names", "ci.pages": "bool",
    "build.c_modules": "paths",
}
_KIND_TEXT = {
    "path": "a path", "text": "a text", "url": "a git URL (not starting with '-')", "version": "a version like v1.28.0",
    "positive": "a whole number above 0", "count": "a whole number, 0 or more",
    "seconds": "a number of seconds above 0", "bool": "true or false",
    "names": "a list of names",
    "paths": "a list of paths",
}


def _fits(kind: str, value) -> bool:
    if kind == "names":  # a YAML list, or one comma-separated text
        items = value.split(",") if isinstance(value, str) else value
        return isinstance(items, (list, tuple)) and all(_fits("text", item) for item in items)
    if kind == "paths":  # a YAML list, or one path ("" or null: none)
        if value in (None, ""):
            return True
        items = [value] if isinstance(value, str) else value
        return isinstance(items, (list, tuple)) and all(_fits("path", item) and item for item in items)
    if kind in ("path", "text", "version", "url"):
        if value is None or (kind not in ("text", "url") and value == ""):
            return True
        if not isinstance(value, str) or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            return False
        if kind == "url":  # git would take "-..." as an option (--upload-pack runs a program)
            return bool(value) and not value.startswith("-")
        return kind != "version" or releases.is_version(value)
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    try:
        number = float(value) if kind == "seconds" else int(str(value).strip())
    except (TypeError, ValueError):
        return False
    return number >= 0 if kind == "count" else number > 0 and number == number and number != float("inf")


def check(cfg) -> None:
    """Every key under `mpforge` known and of the right kind, whichever source set it
    (invoke.yaml, -f FILE, INVOKE_MPFORGE_*); else one line naming the setting."""
    groups = {key.rpartition(".")[0] for key in KINDS if "." in key}
    fix = "fix it in invoke.yaml, your -f file or the INVOKE_MPFORGE_* variable"

    def walk(node, prefix: str) -> None:
        if not isinstance(node, Mapping) and not hasattr(node, "keys"):
            where = f"mpforge.{prefix}" if prefix else "mpforge"
            raise UserError(f"setting {where} must be a table of settings, not {node!r}; {fix}")
        for key in list(node.keys()):
            dotted = f"{prefix}.{key}" if prefix else str(key)
            value = node[key]
            if dotted in groups:
                walk(value, dotted)
            elif dotted in KINDS:
                if not _fits(KINDS[dotted], value):
                    raise UserError(f"setting mpforge.{dotted} is {value!r}, not {_KIND_TEXT[KINDS[dotted]]}; "
                                    f"{fix} (INVOKE_MPFORGE_{dotted.replace('.', '_').upper()})")
            else:
                near = difflib.get_close_matches(dotted, [*KINDS, *groups], n=1, cutoff=0.5)
                hint = f"did you mean mpforge.{near[0]}?" if near else f"known: {', '.join(sorted(KINDS))}"
                raise UserError(f"setting mpforge.{dotted} is unknown; {hint} ({fix})")

    walk(cfg if cfg is not None else {}, "")


def _path(value) -> Path | None:
    if value in (None, ""):
        return None
    path = Path(os.path.expanduser(str(value)))
    return path if path.is_absolute() else PROJECT_ROOT / path


def _get(cfg, dotted: str, default=None):
    node = cfg
    for part in dotted.split("."):
        try:
            node = node[part]
        except (KeyError, TypeError):
            return default
    return node


def _names(cfg, dotted: str) -> tuple[str, ...]:
    """A list setting of names: a YAML list, or one comma-separated text (check() has refused
    anything else; invoke cannot read a list from an INVOKE_MPFORGE_* variable, cli.env_problem)."""
    value = _get(cfg, dotted) or ()
    if isinstance(value, str):
        value = value.split(",")
    return tuple(str(v).strip() for v in value if str(v).strip())


# esptool's reset modes (its v5 spelling; "_" is accepted for "-").
BEFORE_MODES = ("default-reset", "usb-reset", "no-reset", "no-reset-no-sync")
AFTER_MODES = ("hard-reset", "soft-reset", "no-reset", "no-reset-stub", "watchdog-reset")
#: The `after` setting's default: mpforge chooses the reset from the port's USB path
#: (board/fleet.py reset_for; docs/flashing.md, "The reset after a flash").
AUTO = "auto"
#: The ROM bootloader's own rate: nothing slower reaches a board.
ROM_BAUD = 115200
#: Seconds a port read waits: esptool's own default (DEFAULT_TIMEOUT), which also bounds
#: the wait for the flasher stub's greeting; USB hubs and rfc2217 need that margin.
DEFAULT_READ_TIMEOUT = 3.0


def check_baud(rate: int) -> int:
    """The one check of a transfer rate (setting or --baud)."""
    if rate < ROM_BAUD:
        raise UserError(f"baud {rate} is too slow; use {ROM_BAUD} or more")
    return rate


def _mode(cfg, key: str, default: str, allowed: tuple[str, ...]) -> str:
    value = str(_get(cfg, key) or default).replace("_", "-")
    if value not in allowed:
        raise UserError(f"settings: '{key}' is '{value}'; expected one of {', '.join(allowed)}")
    return value


def _seconds(cfg, key: str, default: float) -> float:
    value = _get(cfg, key)
    if value in (None, ""):
        return default
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise UserError(f"settings: '{key}' must be a number of seconds, not '{value}'") from None
    if value <= 0:
        raise UserError(f"settings: '{key}' must be more than 0 seconds")
    return value


def _read_timeout(cfg) -> float:
    try:
        timeout = float(_get(cfg, "read_timeout") or DEFAULT_READ_TIMEOUT)
    except (TypeError, ValueError):
        raise UserError("settings: 'read_timeout' must be a number of seconds") from None
    if timeout < DEFAULT_READ_TIMEOUT:
        raise UserError(f"settings: 'read_timeout' is {timeout:g} s; use {DEFAULT_READ_TIMEOUT:g} "
                        "(esptool's own) or more: a slow link would fail as 'no response'")
    return timeout


def from_config(config, *, profile: str | None = None, micropython: str | None = None,
                port: str | None = None, yes: bool = False, frozen: str | None = None,
                backend: str | None = None, c_modules=()) -> Settings:
    """Build Settings from an invoke Config (or any nested mapping): every key checked
    (check) and read, converted and validated here, once."""
    cfg = _get(config, "mpforge", {})
    check(cfg)
    cfg = cfg or {}
    dry = bool(_get(config, "run.dry", False))
    try:
        baud = int(_get(cfg, "baud", 921600))
        jobs = int(_get(cfg, "jobs", 0) or os.cpu_count() or 1)
        attempts = int(_get(cfg, "connect_attempts") or 7)
    except (TypeError, ValueError):
        raise UserError("settings: 'baud', 'jobs' and 'connect_attempts' must be whole numbers") from None
    idf_python = _get(cfg, "idf.python")
    backend = str(backend or _get(cfg, "build.backend", "native") or "native")
    if backend not in BACKENDS:
        raise UserError(f"settings: build.backend is {backend!r}; use {' or '.join(BACKENDS)}")
    return Settings(
        workdir=_path(_get(cfg, "workdir", "work")),
        profile=str(profile or _get(cfg, "profile", AUTO_PROFILE) or AUTO_PROFILE),
        micropython_version=releases.normalise(micropython or str(_get(cfg, "micropython.version", releases.DEFAULT))),
        micropython_url=str(_get(cfg, "micropython.url", "https://github.com/micropython/micropython.git")),
        micropython_dir=_path(_get(cfg, "micropython.dir")),
        idf_version=releases.normalise(str(_get(cfg, "idf.version") or "")),
        idf_url=str(_get(cfg, "idf.url", "https://github.com/espressif/esp-idf.git")),
        idf_dir=_path(_get(cfg, "idf.dir")),
        idf_tools_path=_path(_get(cfg, "idf.tools_path") or "~/.espressif"),
        releases_file=_path(_get(cfg, "releases_file")),
        port=str(port or _get(cfg, "port", "") or ""),
        baud=baud,
        jobs=jobs,
        dry=dry,
        yes=yes,
        os_packages=bool(_get(cfg, "os_packages", True)),
        frozen=Path(frozen).expanduser().resolve() if frozen else None,
        backend=backend,
        container_engine=str(_get(cfg, "container.engine", "") or ""),
        container_image=str(_get(cfg, "container.image", "") or "espressif/idf:{idf}"),
        ci_profiles=_names(cfg, "ci.profiles"),
        ci_releases=tuple(releases.normalise(v) for v in _names(cfg, "ci.releases")),
        ci_pages=bool(_get(cfg, "ci.pages", False)),
        idf_python=str(idf_python) if idf_python else None,
        before=_mode(cfg, "before", "default-reset", BEFORE_MODES),
        after=_mode(cfg, "after", AUTO, (AUTO, *AFTER_MODES)),
        connect_attempts=max(1, attempts),
        verify_timeout=_seconds(cfg, "verify.timeout", 5.0),
        read_timeout=_read_timeout(cfg),
        dist_web_tools=str(_get(cfg, "dist.web_tools") or "").strip(),
        c_modules=_c_modules(cfg, c_modules),
        profile_without_board=_profile_without_board(cfg),
    )


def _profile_without_board(cfg) -> str:
    value = str(_get(cfg, "profile_without_board") or REFERENCE_PROFILE)
    if value == AUTO_PROFILE:
        raise UserError("setting mpforge.profile_without_board is 'auto'; name a profile from boards/ "
                        f"(the reference board: {REFERENCE_PROFILE}), as a task without a board has none to ask")
    return value


def profile_name(settings: Settings, flag: str | None) -> str:
    """The profile a task without a board builds: --profile, else the setting; auto (either)
    means profile_without_board (flash, verify and build-all --port ask the board instead)."""
    name = flag or settings.profile
    return settings.profile_without_board if name == AUTO_PROFILE else name


def _c_modules(cfg, flags) -> tuple[Path, ...]:
    """build.c_modules (relative to the project), then the --c-module flags (relative to here), each once."""
    value = _get(cfg, "build.c_modules") or ()
    listed = [_path(v) for v in ([value] if isinstance(value, str) else value)]
    given = [Path(os.path.abspath(os.path.expanduser(str(f)))) for f in flags or ()]
    return tuple(dict.fromkeys(p for p in [*listed, *given] if p is not None))


@dataclass(frozen=True)
class Job:
    """One profile built for one release: every path the pipeline uses."""

    settings: Settings
    profile: Profile
    release: Release

    @property
    def idf_version(self) -> str:
        return self.settings.idf_version or self.release.idf

    @property
    def chip(self) -> chips.Chip:
        """The profile's chip, from the registry (mpforge/model/chips.toml)."""
        return chips.get(self.profile.chip)

    @property
    def idf_commit(self) -> str:
        """The commit the IDF tag must point at, "" when mpforge has no pin for it."""
        if self.idf_version == self.release.idf and self.release.idf_commit:
            return self.release.idf_commit
        return releases.IDF_COMMITS.get(self.idf_version, "")

    @property
    def mp_dir(self) -> Path:
        return self.settings.micropython_dir or self.settings.workdir / "micropython" / self.release.version

    @property
    def idf_dir(self) -> Path:
        """The IDF tree: a checkout natively; with the container backend, the image's Kconfig files."""
        if self.settings.backend == "container":
            return self.settings.workdir / "esp-idf-image" / self.idf_version
        return self.settings.idf_dir or self.settings.workdir / "esp-idf" / self.idf_version

    @property
    def port_dir(self) -> Path:
        return self.mp_dir / "ports" / "esp32"

    @property
    def board_dir(self) -> Path:
        return self.port_dir / "boards" / self.profile.board

    @property
    def build_dir(self) -> Path:
        return self.port_dir / f"build-{self.profile.board}-{self.profile.variant}"

    @property
    def frozen(self) -> Path | None:
        """User code to freeze: the --frozen flag, else the profile's [frozen] path."""
        return self.settings.frozen or self.profile.frozen

    @property
    def key(self) -> str:
        """Names this job's stamps: profile and release."""
        return f"{self.profile.name}-{self.release.version}"

    @property
    def label(self) -> str:
        return f"{self.profile.name} @ micropython {self.release.version}"

    @property
    def retry(self) -> str:
        """The one command that runs this job's chain again (each step resumes or is done)."""
        return f"`invoke build-all -B {self.profile.name} -m {self.release.version}`"


def release(settings: Settings, micropython: str | None = None) -> Release:
    """The release asked for (--micropython, else the setting), pinned (a one-line error if unknown)."""
    return taglock.pinned(releases.get(micropython or settings.micropython_version, settings.releases_file),
                          settings.workdir)


def job(settings: Settings, profile: str | None = None, micropython: str | None = None) -> Job:
    """Resolve one profile and release into a Job (one-line errors for unknown names)."""
    return Job(settings=settings, profile=profiles.load(profile_name(settings, profile)),
               release=release(settings, micropython))


def jobs(settings: Settings, profile_names, versions) -> list[Job]:
    """Every (profile, release) pair asked for; the settings' defaults when none are."""
    names = [profile_name(settings, p) for p in profile_names or []] or [settings.default_profile]
    wanted = list(versions or []) or [settings.micropython_version]
    loaded = {p: profiles.load(p) for p in dict.fromkeys(names)}  # each file read once, not once a pair
    found = {v: taglock.pinned(releases.get(v, settings.releases_file), settings.workdir)
             for v in dict.fromkeys(wanted)}
    return [Job(settings, loaded[p], found[v]) for v in wanted for p in names]
