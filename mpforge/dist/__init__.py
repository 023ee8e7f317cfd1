"""Release artifacts: a build collected into one folder (collect.py) that can be
flashed without mpforge, and read back (load.py). The names of its files:"""

import hashlib
from dataclasses import dataclass

STEP = "dist"
SUMS = "SHA256SUMS"
INFO = "build-info.json"
FLASH_ARGS = "flash_args"
MERGED = "firmware.bin"
FORMAT = 1  # build-info.json "format": bumped when its layout changes


def sha256(data: bytes) -> str:
    """The digest SHA256SUMS lists for a file."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Sum:
    """One file of a dist as index.html lists it: where it is written (None: it is not
    flashed), its size and the digest SHA256SUMS has for it."""

    name: str
    offset: int | None
    size: int
    sha256: str

    @classmethod
    def of(cls, name: str, data: bytes, offset: int | None = None) -> "Sum":
        return cls(name, offset, len(data), sha256(data))
