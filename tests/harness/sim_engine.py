#!/usr/bin/env python3
"""A simulated container engine (tests only), installed on PATH as `docker` or `podman`.

No container engine runs in CI, so this stands in for one. It simulates:
- `info`: the daemon is up, or down with docker's own message (SIM_ENGINE_DOWN=1);
- `image inspect` / `pull`: the images are folders SIM_ENGINE_IMAGES/<tag>/ holding a
  simulated ESP-IDF (tests/fixtures/idf); a tag with no folder is "manifest unknown";
  what was pulled is listed in SIM_ENGINE_STATE/pulled.txt;
- `run`: what a container sees is only its bind mounts, so every absolute path the
  command or its working folder names must lie under a `-v` mount (or inside the
  image); then the image's entrypoint is imitated (`. $IDF_PATH/export.sh`) and the
  command runs in the `-w` folder with the `-e` variables.
It does not switch users (the tests run as one user) nor isolate anything else.
Every call is appended as a JSON list of its arguments to SIM_ENGINE_LOG.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

args = sys.argv[1:]
with open(os.environ["SIM_ENGINE_LOG"], "a") as log:
    log.write(json.dumps([Path(sys.argv[0]).name, *args]) + "\n")
images = Path(os.environ["SIM_ENGINE_IMAGES"])
pulled = Path(os.environ.get("SIM_ENGINE_STATE", images)) / "pulled.txt"


def image_dir(ref: str) -> Path | None:
    name, _, tag = ref.partition(":")
    return images / tag if name == "espressif/idf" and tag and (images / tag).is_dir() else None


if os.environ.get("SIM_ENGINE_DOWN"):
    sys.exit("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")
if args[:1] == ["info"]:
    print("Server Version: simulated")
    sys.exit(0)
if args[:2] == ["image", "inspect"]:
    known = pulled.read_text().split() if pulled.exists() else []
    sys.exit(0 if args[2] in known else 1)
if args[:1] == ["pull"]:
    if image_dir(args[1]) is None:
        sys.exit(f"Error response from daemon: manifest for {args[1]} not found: manifest unknown")
    with open(pulled, "a") as f:
        f.write(args[1] + "\n")
    print(f"Status: Downloaded newer image for {args[1]}")
    sys.exit(0)
if args[:1] != ["run"]:
    sys.exit(f"simulated engine: unsupported command {args[:1]}")

mounts, env, cwd, i = [], {}, None, 1
while args[i].startswith("-"):
    opt = args[i]
    if opt in ("--rm", "--init") or opt.startswith("--userns="):
        i += 1
        continue
    value = args[i + 1]
    if opt == "-v":
        source, target = value.split(":")[:2]
        if source != target:
            sys.exit("simulated engine: mounts must keep their path")
        mounts.append(Path(source))
    elif opt == "-e":
        key, _, val = value.partition("=")
        env[key] = val
    elif opt == "-w":
        cwd = value
    elif opt != "--user":
        sys.exit(f"simulated engine: unsupported option {opt}")
    i += 2
idf = image_dir(args[i])
if idf is None:
    sys.exit(f"Unable to find image '{args[i]}' locally")
command = args[i + 1:]


def visible(path: str) -> bool:
    p = Path(path)
    return any(p == m or m in p.parents for m in mounts) or p == idf or idf in p.parents or path.startswith("/tmp/mpforge-home")


# Absolute paths in the command (also in NAME=/path arguments) and the working folder.
for word in [cwd or "/", *command]:
    for path in re.findall(r"(?:^|=)(/[^\s;\"'$]*)", word):
        if (Path(path).exists() or path == cwd) and not visible(path) and not path.startswith(("/bin", "/usr", "/dev")):
            sys.exit(f"simulated engine: {path} is not mounted into the container")

run_env = {"PATH": os.environ["PATH"], "HOME": env.get("HOME", "/root"), "IDF_PATH": str(idf),
           "IDF_TOOLS_PATH": str(idf / ".tools"), "SIM_BUILD_LOG": os.environ.get("SIM_BUILD_LOG", ""),
           **{k: v for k, v in os.environ.items() if k.startswith("SIM_")}, **env}
entry = '. "$IDF_PATH/export.sh" && cd "$0" && exec "$@"'
sys.exit(subprocess.run(["bash", "-c", entry, cwd or "/", *command], env=run_env).returncode)
