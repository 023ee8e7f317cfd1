"""`invoke releases-add TAG`: pin a MicroPython release mpforge does not know yet.

On release day: the commit the tag points at (`git ls-remote` against the
MicroPython URL, or the tag of a checkout the user has), the port's facts read
from git's objects at that tag (never from a work tree's checked-out files):

- the ESP-IDF versions the port's README recommends and its CI builds with,
  and the oldest its component manifest accepts (docs/micropython-esp32.md §5);
- the board's files and how it declares a variant, held against each overlay
  line's [upstream] facts (mpforge/config/upstream.py; §9);
- the submodules the esp32 port's cmake files name (GIT_SUBMODULES).

Then the matching line's offline config tier (mpforge/config/check.py) for
every profile in boards/, on a scratch checkout of the tag, and only when all
pass, the pinned entry in the user's releases_file (written atomically, its
other entries and comments kept). Anything upstream changed that no line
knows is a refusal in one line that names the change.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from mpforge import shell, state
from mpforge.build import overlay
from mpforge.config import check as configcheck
from mpforge.config import upstream
from mpforge.errors import UserError
from mpforge.model import lines, profiles, releases, taglock, tomllib
from mpforge.model.releases import Release
from mpforge.model.settings import Job, Settings
from mpforge.source import gitsrc

STEP = "releases-add"
REPORT = "report it as an issue at mpforge with this line"
_TAG = re.compile(r"^v\d{1,4}\.\d{1,4}\.\d{1,4}$")
_HASH = re.compile(r"^[0-9a-f]{40}$")
PORT = "ports/esp32"


def check_tag(tag) -> str:
    """The tag as given, when it is a release tag like v1.29.0 (it reaches git and paths)."""
    if not isinstance(tag, str) or not _TAG.match(tag):
        raise UserError(STEP, f"'{tag}' is not a release tag like v1.29.0",
                        hint="give the tag as MicroPython names it: v, then major.minor.patch")
    return tag


# ---- git, read-only -------------------------------------------------------------------

def _git(args: list[str], cwd: Path | None = None):
    return shell.run(STEP, ["git", *args], cwd=cwd, check=False, capture=True)


def remote_commit(url: str, tag: str) -> str:
    """The commit the tag points at on the remote (the peeled ref of an annotated tag)."""
    if not url or url.startswith("-") or any(ord(ch) < 32 for ch in url):
        raise UserError(STEP, f"'{url}' is not a git URL", hint="pass --url URL or set micropython.url")
    result = _git(["ls-remote", url, f"refs/tags/{tag}", f"refs/tags/{tag}^{{}}"])
    if result.returncode != 0:
        reason = shell.failure_reason(result.stderr or "") or "no reason given"
        raise UserError(STEP, f"git ls-remote {url} failed: {reason}",
                        hint="check the network and the URL (--url or micropython.url), or use --tree DIR")
    refs = dict(reversed(line.split("\t", 1)) for line in result.stdout.splitlines() if "\t" in line)
    commit = refs.get(f"refs/tags/{tag}^{{}}") or refs.get(f"refs/tags/{tag}", "")
    if not _HASH.match(commit):
        raise UserError(STEP, f"{url} has no tag {tag}", hint="check the tag (git ls-remote --tags URL lists them)")
    return commit


def tree_commit(tree: Path, tag: str) -> str:
    """The commit the tag points at in a checkout the user has."""
    gitsrc.require_checkout(tree, "--tree", not_git="give the top of a MicroPython clone")
    result = _git(["rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}"], cwd=tree)
    commit = result.stdout.strip()
    if result.returncode != 0 or not _HASH.match(commit):
        raise UserError(STEP, f"the checkout {tree} has no tag {tag}",
                        hint=f"run `git -C {tree} fetch --tags` and run again, or check the tag")
    return commit


class TagTree:
    """The files of ports/esp32 (and the repository) at a tag, read from git's objects."""

    def __init__(self, repo: Path, tag: str):
        self.repo, self.tag = repo, tag
        result = _git(["ls-tree", "-r", "--name-only", f"refs/tags/{tag}"], cwd=repo)
        if result.returncode != 0:
            raise UserError(STEP, f"cannot list the files of {tag}: {shell.failure_reason(result.stderr)}")
        self.files = set(result.stdout.splitlines())

    def matches(self, rel: str) -> list[str]:  # upstream.Tree, relative to ports/esp32
        import fnmatch

        full = f"{PORT}/{rel}"
        if "*" not in rel:
            return [rel] if full in self.files else []
        folder = full.rpartition("/")[0]
        return sorted(f[len(PORT) + 1:] for f in self.files
                      if f.rpartition("/")[0] == folder and fnmatch.fnmatchcase(f, full))

    def read(self, rel: str) -> str:  # upstream.Tree
        return self.show(f"{PORT}/{rel}")

    def show(self, path: str) -> str:
        """A file of the repository at the tag ("" when it has none)."""
        if path not in self.files:
            return ""
        result = _git(["show", f"refs/tags/{self.tag}:{path}"], cwd=self.repo)
        return result.stdout if result.returncode == 0 else ""


# ---- the facts ----------------------------------------------------------------------

@dataclass(frozen=True)
class PortFacts:
    idf_readme: str  # the IDF the port's README recommends ("" = it names none)
    idf_ci: str  # the newest IDF its CI builds with
    idf_min: str  # the oldest IDF its component manifest (or CI) accepts
    board_files: tuple[str, ...]  # the board folder's files, per board of the profiles
    variants: dict  # board -> how it declares variants: "variant-file", "if-block" or "none found"
    submodules: tuple[str, ...]

    @property
    def idf(self) -> str:
        """The IDF to pin: the one MicroPython's CI builds with, else the README's."""
        return self.idf_ci or self.idf_readme


_V = r"v?(\d+\.\d+(?:\.\d+)?)"


def _first(pattern: str, text: str) -> str:
    m = re.search(pattern, text, re.IGNORECASE | re.MULTILINE)
    return releases.normalise(m.group(1)) if m else ""


def idf_versions(tree: TagTree) -> tuple[str, str, str]:
    """(README's recommended, CI's, oldest accepted), as MicroPython writes them
    (docs/micropython-esp32.md §5): the README's "recommended version of ESP-IDF ... is
    v5.5.2" and "supports v5.3, ..."; CI: IDF_NEWEST_VER / IDF_OLDEST_VER in the esp32
    workflow, else IDF_VER=v5.0.4 in tools/ci.sh, else the IDF of the lockfile ci.sh reads;
    the oldest: main/idf_component.yml `idf: version: ">=5.3.0"`, else CI's, else the README's."""
    readme = tree.show(f"{PORT}/README.md")
    recommended = _first(r"recommended\s+version\s+of\s+ESP-IDF[^.]*?\bis\s+" + _V, readme)
    m = re.search(r"supports\s+((?:v?\d+\.\d+(?:\.\d+)?(?:,\s*|\s+and\s+)?)+)", readme)
    supported = re.findall(r"\d+\.\d+(?:\.\d+)?", m.group(1)) if m else []
    workflow = tree.show(".github/workflows/ports_esp32.yml")
    ci_sh = tree.show("tools/ci.sh")
    ci = _first(r"IDF_NEWEST_VER:\s*(?:&\w+\s*)?\"?" + _V, workflow) or _first(r"^IDF_VER=" + _V + r"\s*$", ci_sh)
    if not ci and re.search(r"^IDF_VER=.*dependencies\.lock\.esp32\b", ci_sh, re.MULTILINE):
        lock = tree.show(f"{PORT}/lockfiles/dependencies.lock.esp32")
        ci = _first(r"^\s*idf:\s*\n(?:\s+\w+:.*\n)*?\s+version:\s*\"?" + _V, lock)
    manifest = tree.show(f"{PORT}/main/idf_component.yml")
    oldest = _first(r"^\s*idf:\s*\n\s*version:\s*\"?>=\s*" + _V, manifest) or \
        _first(r"IDF_OLDEST_VER:\s*(?:&\w+\s*)?\"?" + _V, workflow)
    if not oldest and supported:
        oldest = releases.normalise(min(supported, key=releases.version_tuple))
    return recommended, ci, oldest


_IF = re.compile(r"^\s*if\s*\((.*)\)\s*$", re.IGNORECASE)
_ELSE = re.compile(r"^\s*else(?:if)?\s*\(", re.IGNORECASE)
_ENDIF = re.compile(r"^\s*endif\s*\(", re.IGNORECASE)
_SUB = re.compile(r"\blib/[A-Za-z0-9_.+-]+")


def submodules(tree: TagTree) -> tuple[str, ...]:
    """The lib/ submodules the esp32 build adds to GIT_SUBMODULES: in the port's cmake files,
    and in py/mkrules.cmake and extmod/extmod.cmake where the enclosing if() is one the port
    can take (an if(VAR) counts only when the port's cmake sets VAR)."""
    port_cmake = sorted(f for f in tree.files if f.startswith(f"{PORT}/") and
                        (f.endswith(".cmake") or f.endswith("CMakeLists.txt")) and "/boards/" not in f)
    port_text = "\n".join(tree.show(f) for f in port_cmake)
    found = []
    for path in [*port_cmake, "py/mkrules.cmake", "extmod/extmod.cmake"]:
        stack: list[str] = []
        for raw in tree.show(path).splitlines():
            text = raw.split("#", 1)[0]
            if _ENDIF.match(text):
                stack = stack[:-1]
            elif _ELSE.match(text):
                stack[-1:] = ["(else)"]
            elif m := _IF.match(text):
                stack.append(m.group(1).strip())
            elif "GIT_SUBMODULES" in text:
                if all(_can_take(cond, port_text) for cond in stack):
                    found += [s for s in _SUB.findall(text) if s not in found]
    return tuple(found)


def _can_take(cond: str, port_text: str) -> bool:
    if not re.fullmatch(r"MICROPY_\w+", cond):
        return True  # a comparison or a test the build decides: the submodule may be needed
    return re.search(rf"\bset\s*\(\s*{cond}\s+(?!OFF\b|0\b|FALSE\b|NO\b)\S", port_text, re.IGNORECASE) is not None


def port_facts(tree: TagTree, boards: list[str]) -> PortFacts:
    recommended, ci, oldest = idf_versions(tree)
    files, variants = [], {}
    for board in boards:
        here = sorted(f for f in tree.files if f.startswith(f"{PORT}/boards/{board}/"))
        files += [f[len(PORT) + 1:] for f in here]
        names = [f.rpartition("/")[2] for f in here]
        cmake = tree.show(f"{PORT}/boards/{board}/mpconfigboard.cmake")
        variants[board] = ("variant-file" if any(re.fullmatch(r"mpconfigvariant_\w+\.cmake", n) for n in names)
                           else "if-block" if "MICROPY_BOARD_VARIANT" in cmake else "none found")
    return PortFacts(recommended, ci, oldest, tuple(files), variants, tuple(sorted(submodules(tree))))


# ---- the line ---------------------------------------------------------------------

def pick_line(tree, boards: list[str]) -> tuple[lines.Line | None, lines.Line, list[str]]:
    """(the line whose [upstream] facts hold for every board or None, the closest line, its problems).
    Closest: fewest problems, the newest line on a tie."""
    scored = []
    for name in lines.names():
        line = lines.load(name)
        found = [p for board in boards for p in upstream.problems(line, tree, board)]
        if line.present or line.absent or line.contains:  # a line with no facts matches nothing
            scored.append((len(found), releases.version_tuple(name), line, found))
    if not scored:
        raise UserError(STEP, "no overlay line has [upstream] facts to match a tree with")
    fits = [s for s in scored if not s[0]]
    if fits:
        best = max(fits, key=lambda s: s[1])
        return best[2], best[2], []
    best = min(scored, key=lambda s: (s[0], tuple(-v for v in s[1])))
    return None, best[2], best[3]


def _gone(problem: str) -> str:
    """upstream's sentence in the words of a release that changed: "X is missing" -> "X is gone"."""
    return problem.replace(" is missing: ", " is gone: ").replace(" relies on it", " includes it")


# ---- the result ---------------------------------------------------------------------

@dataclass
class Added:
    release: Release
    facts: PortFacts
    releases_file: Path
    source: str  # the URL or the checkout the commit was read from
    written: bool  # False: the file already held this very entry (or a dry run)
    dry: bool = False  # `invoke --dry`: every check ran, nothing was written
    reports: list = field(default_factory=list)  # config's Report per profile

    def as_dict(self) -> dict:
        return {"micropython": self.release.version, "commit": self.release.commit, "idf": self.release.idf,
                "idf_min": self.release.idf_min, "line": self.release.line,
                "submodules": list(self.release.submodules), "releases_file": str(self.releases_file),
                "source": self.source, "written": self.written, "dry": self.dry,
                "facts": {**dataclasses.asdict(self.facts), "idf": self.facts.idf},
                "profiles": [{"profile": r.profile, "ok": r.ok, **{row.setting: row.got for row in r.rows}}
                             for r in self.reports]}


# ---- the releases file ------------------------------------------------------------

_BLOCK = re.compile(r"^\s*\[\[\s*release\s*\]\]", re.MULTILINE)


def _blocks(text: str) -> list[str]:
    """The file cut before each [[release]] header: the head, then one block per entry."""
    starts = [m.start() for m in _BLOCK.finditer(text)]
    cuts = [0, *starts, len(text)]
    return [text[a:b] for a, b in zip(cuts, cuts[1:]) if b > a or a == 0]


def _entry_text(release: Release) -> str:
    subs = ", ".join(f'"{s}"' for s in release.submodules)
    return (f"# pinned by `invoke releases-add {release.version}`\n[[release]]\n"
            f'version = "{release.version}"\ncommit = "{release.commit}"\nidf = "{release.idf}"\n'
            f'idf_min = "{release.idf_min}"\nline = "{release.line}"\nsubmodules = [{subs}]\n')


def _existing(path: Path, tag: str) -> tuple[str, list[str], int | None]:
    """The file's text, its blocks, and the index of the block pinning tag (None: none)."""
    text = path.read_text() if path.is_file() else ""
    releases.table(path) if path.is_file() else None  # the file as it is must be valid first
    blocks = _blocks(text)
    for i, block in enumerate(blocks):
        if _BLOCK.search(block):
            entry = (tomllib.loads(block).get("release") or [{}])[0]
            if releases.normalise(str(entry.get("version", ""))) == tag:
                return text, blocks, i
    return text, blocks, None


def _moved(settings: Settings, tag: str, commit: str, path: Path) -> None:
    """A pin of this tag elsewhere must agree: the releases_file's (it overrides mpforge's own table),
    else the built-in table's, and the commit a first fetch recorded."""
    mine = releases._releases(path, releases._read(path)) if path.is_file() else {}
    pins = [("releases_file", mine[tag])] if tag in mine else [("mpforge's table", releases.RELEASES.get(tag))]
    recorded = taglock.locks(settings.workdir).get(tag)
    for where, release in pins:
        if release is not None and release.commit and release.commit != commit:
            raise UserError(STEP, f"tag {tag} now points at {commit[:12]}, but {where} pins it to "
                            f"{release.commit[:12]}: the tag moved", hint="nothing was written; check the "
                            "release upstream before trusting the new commit")
    if recorded and recorded != commit:
        raise UserError(STEP, f"tag {tag} now points at {commit[:12]}, but its first fetch recorded "
                        f"{recorded[:12]}: the tag moved", hint="nothing was written; check the release upstream")


def write_entry(path: Path, release: Release) -> bool:
    """The entry for release.version in the file, replacing one for the same commit, keeping the rest;
    checked by the releases validator before the atomic write. False: it was already there."""
    text, blocks, at = _existing(path, release.version)
    entry = _entry_text(release)
    if at is not None:
        old = (tomllib.loads(blocks[at]).get("release") or [{}])[0]
        if releases._releases(path, {"release": [old]}).get(release.version) == release:
            return False
        blocks[at] = entry + ("\n" if blocks[at].endswith("\n\n") else "")
        new = "".join(blocks)
    else:
        new = text + ("" if not text or text.endswith("\n\n") else "\n" if text.endswith("\n") else "\n\n") + entry
    releases._releases(path, tomllib.loads(new))  # what is written reads back
    state.atomic_write(path, new)
    return True


# ---- the whole ----------------------------------------------------------------------

def _scratch(settings: Settings, tag: str) -> Path:
    where = settings.workdir / "tmp" / f"releases-add-{tag}"
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    return where


def _fetch_tag(source: str, tag: str, commit: str, dest: Path) -> Path:
    """A scratch repository holding only the tag, checked out (the config tier needs files)."""
    repo = dest / "micropython"
    repo.mkdir()
    for args in (["init", "-q"], ["fetch", "-q", "--depth", "1", "--no-tags", source,
                                  f"+refs/tags/{tag}:refs/tags/{tag}"],
                 ["checkout", "-q", "--detach", f"refs/tags/{tag}"]):
        result = _git(args, cwd=repo)
        if result.returncode != 0:
            raise UserError(STEP, f"could not fetch {tag} from {source}: {shell.failure_reason(result.stderr)}",
                            hint="check the network and the URL, or use --tree DIR")
    got = gitsrc.head(repo)
    if got != commit:
        raise UserError(STEP, f"tag {tag} pointed at {commit[:12]} and then at {got[:12]}: the tag moved",
                        hint="nothing was written; run again once the release settles")
    return repo


def _config_all(settings: Settings, release: Release, repo: Path, scratch: Path) -> list:
    """The offline config tier for every profile in boards/, on the scratch checkout."""
    idf_dir = settings.idf_dir or settings.workdir / "esp-idf" / release.idf
    local = dataclasses.replace(settings, workdir=scratch / "work", micropython_dir=repo, idf_dir=idf_dir,
                                idf_version="", backend="native", dry=False, c_modules=())
    if not idf_dir.is_dir():
        raise UserError(STEP, f"the config check needs ESP-IDF {release.idf} at {idf_dir}, which does not exist",
                        hint=f"set idf.dir to an ESP-IDF {release.idf} checkout (git clone -b {release.idf} "
                             f"--depth 1 {settings.idf_url}), and run again; nothing was written")
    reports = []
    for name in profiles.available():
        job = Job(local, profiles.load(name), release)
        try:
            overlay.apply(job)
            report = configcheck.check(job)
        except UserError as exc:
            raise UserError(STEP, f"{release.version} on line {release.line}, profile {name}: {exc.detail}",
                            hint="nothing was written") from None
        if not report.ok:
            bad = report.mismatches[0]
            raise UserError(STEP, f"{release.version} on line {release.line}: profile {name} resolves {bad.setting} "
                            f"to {bad.got}, not {bad.want} ({len(report.mismatches)} mismatch(es))",
                            hint=f"nothing was written; {REPORT}: the line's "
                                 "overlay no longer gives that board what it needs")
        reports.append(report)
    return reports


def add(settings: Settings, tag: str, tree: str | Path | None = None, url: str | None = None) -> Added:
    """Pin tag in the releases_file, after every check passed (no printing)."""
    tag = check_tag(tag)
    path = settings.releases_file
    if path is None:
        raise UserError(STEP, "no releases_file is set: there is nowhere to write the entry",
                        hint="set mpforge.releases_file in invoke.yaml (or INVOKE_MPFORGE_RELEASES_FILE=PATH) "
                             "to a TOML file of yours, and run again")
    if path.exists() and not path.is_file():
        raise UserError(STEP, f"releases_file {path} is not a file")
    if path.is_file():
        releases.table(path)  # the file as it is must be valid before anything is asked of git
    if tree is not None:
        source = str(Path(tree).expanduser().resolve())
        commit = tree_commit(Path(source), tag)
    else:
        source = url or settings.micropython_url
        commit = remote_commit(source, tag)
    _moved(settings, tag, commit, path)
    scratch = _scratch(settings, tag)
    try:
        repo = _fetch_tag(source, tag, commit, scratch)
        files = TagTree(repo, tag)
        boards = sorted({profiles.load(n).board for n in profiles.available()})
        facts = port_facts(files, boards)
        line, closest, found = pick_line(files, boards)
        if line is None:
            raise UserError(STEP, f"{tag}: {_gone(found[0])}", hint=(
                f"no overlay line knows this layout; {REPORT}; a new line needs "
                f"overlays/<line>/ with variant files that fit {tag} and [upstream] facts that hold on it "
                "(docs/micropython-esp32.md §9)"))
        if not facts.idf:
            raise UserError(STEP, f"{tag}: {PORT}/README.md and the CI name no ESP-IDF version that mpforge "
                            "can read", hint=REPORT)
        if not facts.submodules:
            raise UserError(STEP, f"{tag}: no GIT_SUBMODULES in the esp32 port's cmake files",
                            hint=REPORT)
        release = Release(tag, commit, facts.idf, facts.idf_min or facts.idf, line.name, facts.submodules)
        reports = _config_all(settings, release, repo, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if settings.dry:  # every check ran on a scratch copy; the user's file is left as it is
        return Added(release, facts, path, source, False, dry=True, reports=reports)
    written = write_entry(path, release)
    return Added(release, facts, path, source, written, reports=reports)
