"""User C modules: the user's own C code linked into the firmware (USER_C_MODULES).

The esp32 port builds with CMake: it reads USER_C_MODULES as a list of
folders holding a micropython.cmake, or of cmake files, and includes each
one, which must define an INTERFACE library and link it into the `usermod`
target (docs/c-modules.md). mpforge writes one cmake file that includes every
module the user named, with absolute, quoted paths, and passes that file;
every module is checked here first, so a typo or a make-only module is one
line before the build, not a link error minutes into it.

A micropython.cmake is code that CMake runs: modules come only from the
user's own --c-module flags and build.c_modules setting. A profile may only
ask for one (its [c_modules] request), which the user confirms by naming it
there (request_problem).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mpforge import state
from mpforge.errors import UserError
from mpforge.model.settings import Job
from mpforge.source import gitsrc

STEP = "c-module"
CMAKE_FILE = "micropython.cmake"
_SOURCES = (".c", ".cpp", ".cc", ".cxx")
# In a quoted CMake argument `"` ends it, `\` escapes, `$` starts a variable; a `;`
# splits the module's own ${CMAKE_CURRENT_LIST_DIR}/... arguments (docs/c-modules.md §3).
_CMAKE_SPECIAL = set('"\\$;')
_COMMENT_CMAKE = re.compile(r"#[^\n]*")
_COMMENT_C = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_INTERFACE_LIB = re.compile(r"\badd_library\s*\(\s*([^\s()]+)\s+INTERFACE\b", re.I)
_LINKS_USERMOD = re.compile(r"\btarget_link_libraries\s*\(\s*usermod\s+INTERFACE\s+[^\s()]", re.I)
_INCLUDE_HERE = re.compile(r"\binclude\s*\(\s*\"?\$\{CMAKE_CURRENT_LIST_DIR\}/([^\s\")]+)", re.I)
_REGISTER = re.compile(r"\bMP_REGISTER_(?:EXTENSIBLE_)?MODULE\s*\(\s*MP_QSTR_(\w+)\s*,")


@dataclass(frozen=True)
class CModule:
    """One checked module: the path the user gave, its cmake file and the names it registers."""

    given: Path
    cmake: Path  # the file USER_C_MODULES includes
    names: tuple[str, ...]  # MP_REGISTER_MODULE names in its C sources (may be empty)

    @property
    def folder(self) -> Path:
        """Every file below it is an input of the build."""
        return self.cmake.parent


def _cmake_safe(path: Path) -> None:
    text = str(path)
    bad = sorted({ch for ch in text if ch in _CMAKE_SPECIAL or ord(ch) < 32 or ord(ch) == 127})
    if bad:
        shown = " ".join(repr(ch) for ch in bad)
        raise UserError(STEP, f"{text!r} has {shown} in its path, which CMake would read as syntax; "
                              "move or rename the module's folder")


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as exc:
        raise UserError(STEP, f"{path} cannot be read ({exc.strerror or exc})") from None


def _cmake_texts(cmake: Path, seen: set[Path] | None = None) -> list[str]:
    """The file's text (comments removed) and that of the files it includes from
    ${CMAKE_CURRENT_LIST_DIR} (a top-level micropython.cmake of several modules)."""
    seen = seen if seen is not None else set()
    if cmake in seen or len(seen) > 50:
        return []
    seen.add(cmake)
    text = _COMMENT_CMAKE.sub("", _text(cmake))
    texts = [text]
    for rel in _INCLUDE_HERE.findall(text):
        child = (cmake.parent / rel).resolve()
        if child.is_file():
            texts += _cmake_texts(child, seen)
    return texts


def _check_cmake(cmake: Path) -> None:
    """Statically: some INTERFACE library is defined and something is linked into usermod."""
    text = "\n".join(_cmake_texts(cmake))
    need = "it must define one (add_library(NAME INTERFACE)) and link it into usermod " \
           "(target_link_libraries(usermod INTERFACE NAME)); see docs/c-modules.md"
    if not _INTERFACE_LIB.search(text):
        raise UserError(STEP, f"{cmake} defines no INTERFACE library; {need}")
    if not _LINKS_USERMOD.search(text):
        raise UserError(STEP, f"{cmake} links no library into usermod; {need}")


def source_files(folder: Path) -> list[Path]:
    """Every file below the module's folder (no VCS metadata, no bytecode caches)."""
    found = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in (".git", "__pycache__"))
        found += [Path(top) / n for n in sorted(names) if not n.endswith(".pyc")]
    return found


def registered_names(folder: Path) -> tuple[str, ...]:
    """The module names its C sources register (MP_REGISTER_MODULE(MP_QSTR_name, ...)); a
    qstr's `_dot_` is a `.` (MP_QSTR_ulab_dot_numpy is "ulab.numpy", docs/c-modules.md §4)."""
    names: list[str] = []
    for path in source_files(folder):
        text = _text(path) if path.suffix in _SOURCES else ""
        if "MP_REGISTER_" in text:  # comments are stripped only where it can matter (a no-op stays fast)
            names += [n.replace("_dot_", ".") for n in _REGISTER.findall(_COMMENT_C.sub("", text))]
    return tuple(dict.fromkeys(names))


def check(given: Path) -> CModule:
    """One module path checked (one line naming the problem and what to do)."""
    path = Path(os.path.abspath(given))
    _cmake_safe(path)
    if not path.exists():
        raise UserError(STEP, f"{given} does not exist (a folder with a {CMAKE_FILE}, or a {CMAKE_FILE} file)")
    if path.is_dir():
        cmake = path / CMAKE_FILE
        if not cmake.is_file():
            if (path / "micropython.mk").is_file():
                raise UserError(STEP, f"{given} has only a micropython.mk (a make-only module); the esp32 port "
                                      f"builds with CMake and needs a {CMAKE_FILE} beside it that defines an "
                                      "INTERFACE library linked into usermod (docs/c-modules.md)")
            raise UserError(STEP, f"{given} holds no {CMAKE_FILE}; name the module's folder or its {CMAKE_FILE}")
    elif path.suffix == ".cmake":
        cmake = path
    else:
        raise UserError(STEP, f"{given} is neither a folder nor a .cmake file (a module's {CMAKE_FILE})")
    _check_cmake(cmake)
    return CModule(given, cmake, registered_names(cmake.parent))


def modules(job: Job) -> list[CModule]:
    """The job's C modules (the user's flags and setting only), each checked, no name twice."""
    refuse_unconfirmed(job)
    found: list[CModule] = []
    for module in (check(p) for p in job.settings.c_modules):
        if all(module.cmake != m.cmake for m in found):  # a folder and its cmake file: once
            found.append(module)
    owner: dict[str, Path] = {}
    for module in found:
        for name in module.names:
            if name in owner and owner[name] != module.given:
                raise UserError(STEP, f"{owner[name]} and {module.given} both register the module '{name}'; "
                                      "keep one of them")
            owner[name] = module.given
    return found


def _same(path: Path) -> Path:
    """A module's path compared: symbolic links followed, a folder and its cmake file alike."""
    real = path.resolve()
    return real.parent if real.name == CMAKE_FILE else real


def refuse_unconfirmed(job: Job) -> None:
    """A profile's [c_modules] request the user has not confirmed stops the build (one line)."""
    mine = {_same(p) for p in job.settings.c_modules}
    for asked in job.profile.c_modules_request:
        if _same(asked) not in mine:
            raise UserError(STEP, f"profile {job.profile.name} asks for the C module {asked}; its cmake runs as "
                                  f"code in the build, so confirm it once: add it to build.c_modules in "
                                  f"invoke.yaml (or pass --c-module {asked})")


def listing(job: Job) -> list[dict]:
    """`invoke config`'s list: each module as given, its cmake file and the names it registers."""
    if not (job.settings.c_modules or job.profile.c_modules_request):
        return []
    return [{"path": str(m.given), "cmake": str(m.cmake), "names": list(m.names)} for m in modules(job)]


def top_level(names) -> list[str]:
    """The names verify imports: plain identifiers (a dotted name is a submodule, reached
    through its parent; anything else in a dist's build-info.json is not a name)."""
    return [n for n in names if isinstance(n, str) and n.isidentifier()] if isinstance(names, list) else []


def names(job: Job) -> list[str]:
    """The top-level module names the job's C modules register (verify imports each)."""
    return [name for module in modules(job) for name in top_level(list(module.names))]


def names_in_info(info: dict) -> list[str]:
    """The same, from a dist's build-info.json (data: anything malformed is left out)."""
    records = info.get("c_modules") if isinstance(info, dict) else None
    return [n for r in (records if isinstance(records, list) else []) if isinstance(r, dict)
            for n in top_level(r.get("names"))]


def file_path(job: Job) -> Path | None:
    """The USER_C_MODULES file for this job (None: no C modules)."""
    if not job.settings.c_modules:
        return None
    return job.settings.workdir / "c-modules" / job.key / "usermods.cmake"


def file_text(job: Job, found: list[CModule]) -> str:
    label = "".join(ch if ch.isprintable() else "?" for ch in job.label)
    lines = [f"# Written by mpforge for {label}: the C modules of --c-module and build.c_modules."]
    lines += [f'include("{m.cmake.as_posix()}")' for m in found]  # _cmake_safe: nothing to escape
    return "\n".join(lines) + "\n"


def before_build(job: Job) -> list[CModule]:
    """Everything the build will need of the C modules, checked (the pipeline asks before
    its long steps): the modules, and a USER_C_MODULES path the port's make can pass."""
    found = modules(job)
    target = file_path(job)
    # The port's Makefile passes USER_C_MODULES to idf.py unquoted (docs/c-modules.md §2).
    if target is not None and any(ch.isspace() for ch in str(target)):
        raise UserError(STEP, f"the workdir {job.settings.workdir} has a space in its path, and the port's Makefile "
                              "passes USER_C_MODULES unquoted; set workdir to a path without spaces")
    if target is not None:
        _cmake_safe(target)
    return found


def write_file(job: Job) -> Path | None:
    """Write the USER_C_MODULES file, only when its text changed."""
    found = before_build(job)
    target = file_path(job)
    if target is None:
        return None
    text = file_text(job, found)
    if not target.exists() or target.read_text() != text:
        state.atomic_write(target, text)
    return target


def digest(job: Job) -> str:
    """Changes when any file below any module's folder changes (the build depends on it)."""
    if not job.settings.c_modules:
        return ""
    parts: list = []
    for module in modules(job):
        files = source_files(module.folder)
        parts += [str(module.cmake), *(str(f.relative_to(module.folder)) for f in files), *files]
    return state.digest(*parts)


def info(job: Job) -> list[dict]:
    """build-info.json's record of each module: its folder's name (not the path: a dist is
    published), the names it registers, and its git commit and dirty flag."""
    records = []
    for module in modules(job):
        record: dict = {"folder": module.folder.name, "names": list(module.names)}
        git = gitsrc.folder_state(module.folder)
        if git is not None:
            record["git"] = git
        records.append(record)
    return records
