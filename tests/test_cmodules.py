"""User C modules (USER_C_MODULES): the checks before the build, the generated
cmake file, the rebuild trigger, and a profile's request.

Small C modules are written by each test. Nothing compiles them: the xtensa
toolchain and CMake's run of the esp32 port cannot exist in CI. Builds run
through the real tasks against the simulated ESP-IDF (tests/test_pipeline.py);
its simulated ports/esp32/Makefile hands USER_C_MODULES to the simulated build
(tests/fixtures/idf/tools/simulated_build.py), which opens the file, requires
every include() in it to exist, and logs the path it received.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import RELEASE, ROOT, one_line_error

from mpforge.build import cmodules, make
from mpforge.errors import UserError
from mpforge.model import settings

KEY = f"esp32s3-n16r8-{RELEASE}"

CMAKE = """# {name}: one C file, its folder on the include path
add_library(usermod_{name} INTERFACE)
target_sources(usermod_{name} INTERFACE ${{CMAKE_CURRENT_LIST_DIR}}/{name}.c)
target_include_directories(usermod_{name} INTERFACE ${{CMAKE_CURRENT_LIST_DIR}})
target_link_libraries(usermod INTERFACE usermod_{name})
"""
C_SOURCE = """#include "py/runtime.h"
// MP_REGISTER_MODULE(MP_QSTR_not_this_one, x);  (a comment registers nothing)
static const mp_rom_map_elem_t {name}_globals_table[] = {{
    {{ MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_{name}) }},
}};
static MP_DEFINE_CONST_DICT({name}_globals, {name}_globals_table);
const mp_obj_module_t {name}_module = {{
    .base = {{ &mp_type_module }},
    .globals = (mp_obj_dict_t *)&{name}_globals,
}};
MP_REGISTER_MODULE(MP_QSTR_{registers}, {name}_module);
"""


def c_module(folder, name="demo", registers=None, cmake=None):
    """A module folder: micropython.cmake (CMAKE unless given) and NAME.c registering REGISTERS."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "micropython.cmake").write_text(CMAKE.format(name=name) if cmake is None else cmake)
    (folder / f"{name}.c").write_text(C_SOURCE.format(name=name, registers=registers or name))
    return folder


def job_with(tmp_path, *paths, profile="esp32s3-n16r8"):
    s = settings.from_config({"mpforge": {"workdir": str(tmp_path / "w"), "micropython": {"dir": str(tmp_path / "mp")}}},
                             c_modules=[str(p) for p in paths])
    return settings.job(s, profile, RELEASE)


def refusal(job) -> str:
    with pytest.raises(UserError) as exc:
        cmodules.modules(job)
    return str(exc.value)


# ---- the checks ------------------------------------------------------------------------

def test_a_good_module_by_folder_or_by_its_cmake_file(tmp_path):
    mod = c_module(tmp_path / "demo")
    for given in (mod, mod / "micropython.cmake"):
        [found] = cmodules.modules(job_with(tmp_path, given))
        assert found.cmake == mod / "micropython.cmake" and found.names == ("demo",)


def test_a_folder_and_its_cmake_file_count_once_in_the_order_given(tmp_path):
    mod = c_module(tmp_path / "demo")
    other = c_module(tmp_path / "other", name="other")
    found = cmodules.modules(job_with(tmp_path, mod, other, mod / "micropython.cmake"))
    assert [m.names for m in found] == [("demo",), ("other",)]


def test_a_path_that_does_not_exist(tmp_path):
    assert f"{tmp_path / 'nope'} does not exist" in refusal(job_with(tmp_path, tmp_path / "nope"))


def test_a_make_only_module_says_what_the_esp32_build_needs(tmp_path):
    mod = tmp_path / "makeonly"
    mod.mkdir()
    (mod / "micropython.mk").write_text("SRC_USERMOD += $(USERMOD_DIR)/x.c\n")
    line = refusal(job_with(tmp_path, mod))
    assert "has only a micropython.mk (a make-only module)" in line
    assert "needs a micropython.cmake" in line and "INTERFACE library linked into usermod" in line


def test_a_folder_with_no_module_at_all(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "holds no micropython.cmake" in refusal(job_with(tmp_path, tmp_path / "empty"))


def test_a_file_that_is_not_cmake(tmp_path):
    (tmp_path / "demo.c").write_text("int x;\n")
    assert "neither a folder nor a .cmake file" in refusal(job_with(tmp_path, tmp_path / "demo.c"))


def test_no_interface_library(tmp_path):
    mod = c_module(tmp_path / "plain", cmake="add_library(usermod_plain STATIC plain.c)\n"
                                             "target_link_libraries(usermod INTERFACE usermod_plain)\n")
    assert "defines no INTERFACE library" in refusal(job_with(tmp_path, mod))


def test_an_interface_library_only_in_a_comment_is_none(tmp_path):
    mod = c_module(tmp_path / "commented", cmake="# add_library(usermod_x INTERFACE)\n"
                                                 "target_link_libraries(usermod INTERFACE usermod_x)\n")
    assert "defines no INTERFACE library" in refusal(job_with(tmp_path, mod))


def test_nothing_linked_into_usermod(tmp_path):
    mod = c_module(tmp_path / "unlinked", cmake="add_library(usermod_unlinked INTERFACE)\n"
                                                "target_sources(usermod_unlinked INTERFACE x.c)\n")
    assert "links no library into usermod" in refusal(job_with(tmp_path, mod))


def test_two_modules_registering_the_same_name(tmp_path):
    one = c_module(tmp_path / "one", name="one", registers="sensor")
    two = c_module(tmp_path / "two", name="two", registers="sensor")
    line = refusal(job_with(tmp_path, one, two))
    assert f"{one} and {two} both register the module 'sensor'" in line


def test_a_cmake_that_includes_several_modules(tmp_path):
    top = tmp_path / "mods"
    c_module(top / "a", name="alpha")
    c_module(top / "b", name="beta")
    (top / "micropython.cmake").write_text('include(${CMAKE_CURRENT_LIST_DIR}/a/micropython.cmake)\n'
                                           'include("${CMAKE_CURRENT_LIST_DIR}/b/micropython.cmake")\n')
    [found] = cmodules.modules(job_with(tmp_path, top))
    assert sorted(found.names) == ["alpha", "beta"]


@pytest.mark.parametrize("char", ['"', ";", "$", "\\"])
def test_a_path_cmake_would_read_as_syntax(tmp_path, char):
    mod = c_module(tmp_path / f"odd{char}name")
    line = refusal(job_with(tmp_path, mod))
    assert "which CMake would read as syntax" in line and repr(char) in line


def test_a_path_with_spaces_is_quoted_in_the_generated_file(tmp_path):
    mod = c_module(tmp_path / "my modules" / "demo")
    job = job_with(tmp_path, mod)
    written = cmodules.write_file(job)
    assert written == tmp_path / "w" / "c-modules" / KEY / "usermods.cmake"
    lines = [l for l in written.read_text().splitlines() if not l.startswith("#")]
    assert lines == [f'include("{mod / "micropython.cmake"}")']
    mtime = written.stat().st_mtime_ns
    cmodules.write_file(job)
    assert written.stat().st_mtime_ns == mtime  # same text: not rewritten, make sees nothing new
    assert f"USER_C_MODULES={written}" in make.make_command(job)


def test_a_workdir_with_a_space_is_refused_before_the_build(mp, tmp_path):
    """The port's Makefile passes USER_C_MODULES to idf.py unquoted."""
    mod = c_module(tmp_path / "demo")
    work = tmp_path / "my work"
    line = one_line_error(mp("build", "--c-module", str(mod), env={"INVOKE_MPFORGE_WORKDIR": str(work)}))
    assert f"the workdir {work} has a space in its path" in line
    assert not (work / "micropython").exists()  # refused before the fetch
    assert mp("--dry", "build", env={"INVOKE_MPFORGE_WORKDIR": str(work)}).returncode == 0  # no C module: fine


def test_no_c_modules_no_file_no_make_argument(tmp_path):
    job = job_with(tmp_path)
    assert cmodules.file_path(job) is None and cmodules.write_file(job) is None
    assert not any(a.startswith("USER_C_MODULES") for a in make.make_command(job))
    assert "c_modules" not in make._made_from(job)  # stamps of builds made before C modules stay valid


# ---- settings ----------------------------------------------------------------------------

def test_setting_paths_are_from_the_project_and_flags_come_after(tmp_path):
    flag = c_module(tmp_path / "flagmod")
    s = settings.from_config({"mpforge": {"build": {"c_modules": ["mods/x", str(flag)]}}},
                             c_modules=[str(flag), "rel"])
    import os
    assert s.c_modules == (ROOT / "mods/x", flag, tmp_path.__class__(os.path.abspath("rel")))


def test_one_path_as_text_is_a_list_of_one():
    assert settings.from_config({"mpforge": {"build": {"c_modules": "/opt/ulab/code"}}}).c_modules == \
        (ROOT.__class__("/opt/ulab/code"),)


def test_a_setting_that_is_not_paths_is_refused():
    with pytest.raises(UserError, match=r"setting mpforge.build.c_modules is 3, not a list of paths"):
        settings.check({"build": {"c_modules": 3}})
    with pytest.raises(UserError, match="not a list of paths"):
        settings.check({"build": {"c_modules": ["ok", ""]}})
    settings.check({"build": {"c_modules": []}})
    settings.check({"build": {"c_modules": ""}})


# ---- the stamp -------------------------------------------------------------------------

def test_digest_covers_every_file_below_the_folder_and_only_those(tmp_path):
    mod = c_module(tmp_path / "demo")
    (tmp_path / "elsewhere.c").write_text("int a;\n")
    job = job_with(tmp_path, mod)
    first = cmodules.digest(job)
    assert cmodules.digest(job) == first
    (tmp_path / "elsewhere.c").write_text("int b;\n")
    assert cmodules.digest(job) == first
    (mod / "demo.c").write_text((mod / "demo.c").read_text() + "// edited\n")
    second = cmodules.digest(job)
    assert second != first
    (mod / "sub").mkdir()
    (mod / "sub" / "helper.h").write_text("#define X 1\n")
    assert cmodules.digest(job) != second


def test_a_module_in_a_git_checkout_records_its_commit_and_dirty_flag(tmp_path):
    repo = tmp_path / "repo"
    mod = c_module(repo / "code")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "add", "."], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-q", "-m", "demo"], check=True)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    job = job_with(tmp_path, mod)
    [record] = cmodules.info(job)
    assert record == {"folder": "code", "names": ["demo"],
                      "git": {"commit": head, "dirty": False}}
    (mod / "demo.c").write_text("// changed\n" + (mod / "demo.c").read_text())
    assert cmodules.info(job)[0]["git"] == {"commit": head, "dirty": True}
    outside = c_module(tmp_path / "plain")
    assert "git" not in cmodules.info(job_with(tmp_path, outside))[0]


# ---- a profile may only ask ----------------------------------------------------------------

def _profile_asking_for(tmp_path, rel):
    board = tmp_path / "board.toml"
    board.write_text((ROOT / "boards/esp32s3-n16r8.toml").read_text() + f'\n[c_modules]\nrequest = ["{rel}"]\n')
    return board


def test_a_profile_request_alone_is_refused_and_passes_nothing_to_the_build(tmp_path):
    mod = c_module(tmp_path / "asked")
    job = job_with(tmp_path, profile=str(_profile_asking_for(tmp_path, "asked")))
    assert job.profile.c_modules_request == (mod,)
    line = refusal(job)
    assert f"asks for the C module {mod}" in line and "add it to build.c_modules" in line
    assert cmodules.file_path(job) is None
    assert not any(a.startswith("USER_C_MODULES") for a in make.make_command(job))


def test_a_confirmed_request_builds(tmp_path):
    mod = c_module(tmp_path / "asked")
    job = job_with(tmp_path, mod, profile=str(_profile_asking_for(tmp_path, "asked")))
    assert [m.names for m in cmodules.modules(job)] == [("demo",)]


def test_a_request_is_confirmed_by_its_cmake_file_or_through_a_link(tmp_path):
    mod = c_module(tmp_path / "asked")
    (tmp_path / "link").symlink_to(mod)
    board = _profile_asking_for(tmp_path, "asked")
    for confirmed in (mod / "micropython.cmake", tmp_path / "link"):
        assert len(cmodules.modules(job_with(tmp_path, confirmed, profile=str(board)))) == 1


def test_a_profile_request_must_be_a_list_of_texts(tmp_path):
    from mpforge.model import profiles

    board = tmp_path / "board.toml"
    board.write_text((ROOT / "boards/esp32s3-n16r8.toml").read_text() + '\n[c_modules]\nrequest = [3]\n')
    with pytest.raises(UserError, match="'c_modules.request' must be a list of paths"):
        profiles.load(str(board))


# ---- through the tasks, against the simulated IDF -----------------------------------------

def test_the_build_receives_the_generated_file_and_rebuilds_only_on_an_edit(mp, tmp_path):
    mod = c_module(tmp_path / "with space" / "demo")
    log = tmp_path / "builds.log"
    env = {"SIM_BUILD_LOG": str(log)}
    first = mp("build", "--c-module", str(mod), env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    usermods = tmp_path / "work" / "c-modules" / KEY / "usermods.cmake"
    assert log.read_text().splitlines()[0].endswith(f" USER_C_MODULES={usermods}")
    assert f'include("{mod / "micropython.cmake"}")' in usermods.read_text()
    again = mp("build", "--c-module", str(mod), env=env)
    assert again.stdout.strip().endswith("up to date") and len(log.read_text().splitlines()) == 1
    (mod / "demo.c").write_text((mod / "demo.c").read_text() + "// faster now\n")
    edited = mp("build", "--c-module", str(mod), env=env)
    assert edited.returncode == 0 and "c_modules changed since the last build" in edited.stdout
    assert len(log.read_text().splitlines()) == 2


def test_a_bad_module_stops_the_build_before_anything_runs(mp, tmp_path):
    mod = tmp_path / "makeonly"
    mod.mkdir()
    (mod / "micropython.mk").write_text("SRC_USERMOD += $(USERMOD_DIR)/x.c\n")
    result = mp("build", "--c-module", str(mod))
    assert "c-module: " in one_line_error(result) and "make-only" in result.stderr
    assert not (tmp_path / "work" / "micropython").exists()  # not even fetched


def test_a_profile_request_never_reaches_cmake(mp, tmp_path):
    c_module(tmp_path / "asked")
    log = tmp_path / "builds.log"
    result = mp("build", "--profile", str(_profile_asking_for(tmp_path, "asked")), env={"SIM_BUILD_LOG": str(log)})
    assert "asks for the C module" in one_line_error(result)
    assert not log.exists() and not (tmp_path / "work" / "c-modules").exists()


def test_a_dotted_qstr_is_a_submodule_and_verify_imports_only_top_level_names(tmp_path):
    mod = c_module(tmp_path / "lab", name="lab")
    (mod / "sub.c").write_text("MP_REGISTER_MODULE(MP_QSTR_lab_dot_fft, lab_fft_module);\n"
                               "MP_REGISTER_EXTENSIBLE_MODULE(MP_QSTR_labx, labx_module);\n")
    job = job_with(tmp_path, mod)
    assert cmodules.modules(job)[0].names == ("lab", "lab.fft", "labx")
    assert cmodules.names(job) == ["lab", "labx"]


def test_config_lists_the_c_modules_of_the_setting(mp, tmp_path):
    mod = c_module(tmp_path / "demo")
    cfg = tmp_path / "mine.yaml"
    cfg.write_text(f"mpforge:\n  build:\n    c_modules: ['{mod}']\n")
    table = mp("-f", str(cfg), "config", env={"COLUMNS": "200"})  # a wide terminal: nothing wraps
    assert table.returncode == 0, table.stdout + table.stderr
    assert f"  C module: {mod} (demo)" in table.stdout.splitlines()
    as_json = mp("-f", str(cfg), "config", "--json")
    assert json.loads(as_json.stdout)["c_modules"] == [
        {"path": str(mod), "cmake": str(mod / "micropython.cmake"), "names": ["demo"]}]
    plain = mp("config", "--json")
    assert json.loads(plain.stdout)["c_modules"] == []


def test_the_setting_alone_builds_with_the_module_and_a_dry_run_shows_it(mp, tmp_path):
    mod = c_module(tmp_path / "demo")
    cfg = tmp_path / "mine.yaml"
    cfg.write_text(f"mpforge:\n  build:\n    c_modules: ['{mod}']\n")
    usermods = tmp_path / "work" / "c-modules" / KEY / "usermods.cmake"
    dry = mp("-f", str(cfg), "--dry", "build")
    assert dry.returncode == 0 and f"USER_C_MODULES={usermods}" in dry.stdout, dry.stdout + dry.stderr
    assert not usermods.exists()  # a dry run writes nothing
    log = tmp_path / "builds.log"
    result = mp("-f", str(cfg), "build", env={"SIM_BUILD_LOG": str(log)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert log.read_text().strip().endswith(f"USER_C_MODULES={usermods}")
