"""The flash history: the last image flashed to each chip, kept per MAC under
<workdir>/state/flashed/<mac>/, so the next flash writes only changed sectors
(esptool's diff_with) and an interrupted flash is noticed.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path


from mpforge import state


class Flashed:
    """<state>/flashed/<mac>/: the regions last flashed to one chip, for diff_with.

    manifest.json says whether the last flash completed; a flash marks it
    incomplete before writing, so an interrupted one is noticed next time.
    """

    def __init__(self, state_dir: Path, mac: str):
        self.dir = state_dir / "flashed" / mac.replace(":", "-")
        self.manifest = self.dir / "manifest.json"

    def _read(self) -> dict | None:
        try:
            return json.loads(self.manifest.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def interrupted(self) -> bool:
        data = self._read()
        return data is not None and not data.get("complete", False)

    def known(self) -> dict[int, bytes]:
        """{offset: bytes} of a completed last flash; {} when unknown or interrupted."""
        data = self._read()
        if not data or not data.get("complete"):
            return {}
        regions = {}
        for offset, entry in data.get("regions", {}).items():
            path = self.dir / entry["file"]
            try:
                content = path.read_bytes()
            except FileNotFoundError:
                continue
            if hashlib.sha256(content).hexdigest() == entry["sha256"]:
                regions[int(offset, 0)] = content
        return regions

    def begin(self, what: str) -> None:
        data = self._read() or {}
        data.update(complete=False, started=what, at=time.strftime("%Y-%m-%dT%H:%M:%S"))
        state.atomic_write(self.manifest, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def done(self, regions: dict[int, bytes], source: str) -> None:
        entries = {}
        for offset, content in sorted(regions.items()):
            name = f"{offset:#x}.bin"
            state.atomic_write(self.dir / name, content)
            entries[hex(offset)] = {"file": name, "sha256": hashlib.sha256(content).hexdigest()}
        data = {"complete": True, "source": source, "regions": entries,
                "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        state.atomic_write(self.manifest, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def erased(self) -> None:
        """The chip is blank: nothing is known to be on it."""
        data = {"complete": True, "regions": {}, "source": "erased",
                "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        for path in self.dir.glob("0x*.bin"):
            path.unlink()
        state.atomic_write(self.manifest, json.dumps(data, indent=2, sort_keys=True) + "\n")
