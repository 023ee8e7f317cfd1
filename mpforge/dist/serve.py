"""`invoke serve`: dist folders over HTTP on this machine, for installing from a browser.

Web Serial only works in a secure context; http://127.0.0.1 (localhost) is
one, so the server listens on the loopback address only. It serves one dist
folder (its index.html is the install page) or a folder of them (`dist/`),
where `/` is an index of the builds. Every dist is checked before anything is
served: its files against SHA256SUMS (the browser does not check what it
writes) and each part its manifest names. docs/web-install.md.
"""

from __future__ import annotations

import errno
import functools
import json
from dataclasses import dataclass
from html import escape
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mpforge.dist import SUMS, load
from mpforge.dist import web
from mpforge.errors import UserError

STEP = "serve"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Build:
    """One servable dist folder."""

    path: Path  # relative to the served root ("." when the root is the dist)
    label: str
    built_at: str


def builds(root: Path) -> list[Build]:
    """The dist folders under root (root itself, or its sub-folders), each checked;
    a one-line error when there is none or one is broken."""
    if not root.is_dir():
        raise UserError(STEP, f"{root} is not a folder; give a dist folder or a folder of them (dist/)")
    if (root / SUMS).is_file():
        folders = [root]
    else:
        folders = sorted(p for p in root.iterdir()
                         if p.is_dir() and not p.name.startswith(".") and (p / SUMS).is_file())
    if not folders:
        raise UserError(STEP, f"{root} is not a dist folder and holds none (no {SUMS}); "
                        "make one with `invoke dist`")
    return [_checked(root, folder) for folder in folders]


def _checked(root: Path, folder: Path) -> Build:
    loaded = load.load(folder)  # every file against SHA256SUMS
    where = folder / web.MANIFEST
    try:
        manifest = json.loads(where.read_text())
        parts = [part["path"] for build in manifest["builds"] for part in build["parts"]]
    except FileNotFoundError:
        raise UserError(STEP, f"{where} is missing; make the dist again with `invoke dist`") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UserError(STEP, f"{where} is not an ESP Web Tools manifest ({exc}); "
                        "make the dist again with `invoke dist`") from None
    for name in parts:
        if not isinstance(name, str) or "/" in name or name.startswith(".") or not (folder / name).is_file():
            raise UserError(STEP, f"{where} names {name!r}, which is not a file in {folder}; "
                            "make the dist again with `invoke dist`")
    if not (folder / web.INDEX).is_file():
        raise UserError(STEP, f"{folder} has no {web.INDEX} (made by an older mpforge); "
                        "run `invoke dist` again")
    rel = folder.relative_to(root)
    return Build(rel, loaded.label, str(loaded.info.get("built_at", "?")))


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, found: list[Build], port: int):
        self.root, self.builds = root, found
        handler = functools.partial(_Handler, directory=str(root))
        try:
            super().__init__((HOST, port), handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(STEP, f"port {port} on {HOST} is in use (another `invoke serve`?); "
                                "pass --http-port N, or --http-port 0 for any free port") from None
            raise UserError(STEP, f"cannot listen on {HOST}:{port} ({exc.strerror or exc})") from None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"

    def page_urls(self) -> list[tuple[Build, str]]:
        return [(b, self.url if str(b.path) == "." else f"{self.url}{b.path.as_posix()}/") for b in self.builds]

    def index_html(self) -> bytes:
        rows = "\n".join(f'<li><a href="{escape(b.path.as_posix())}/">{escape(b.label)}</a> '
                         f"(built {escape(b.built_at)})</li>" for b in self.builds)
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>mpforge builds</title>'
                f"</head>\n<body><h1>Builds</h1>\n<ul>\n{rows}\n</ul>\n</body></html>\n").encode()


def open_server(root, port: int = 8000) -> Server:
    """Check the dist folder(s) at root and listen on localhost:port (0: any free port)."""
    root = Path(root).expanduser().resolve()
    if not 0 <= port <= 65535:
        raise UserError(STEP, f"--http-port {port} is not a TCP port (0-65535)")
    return Server(root, builds(root), port)


class _Handler(SimpleHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if any(part.startswith(".") for part in path.split("/") if part):
            self.send_error(404)  # dist's temporary folders and hidden files
            return
        if not Path(self.translate_path(path)).resolve().is_relative_to(self.server.root):
            self.send_error(404)  # a symlink in a dist folder never leads out of it
            return
        if path in ("/", "/index.html") and not (Path(self.directory) / web.INDEX).is_file():
            body = self.server.index_html()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")  # a rebuilt dist is seen at once
        super().end_headers()

    def log_message(self, format, *args):
        pass  # the task prints the URL; a line per request would bury it
