"""Release artifacts: a build collected into one folder (collect.py) that can be
flashed without mpforge, and read back (load.py). The names of its files:"""

import hashlib

STEP = "dist"
SUMS = "SHA256SUMS"
INFO = "build-info.json"
FLASH_ARGS = "flash_args"
MERGED = "firmware.bin"
FORMAT = 1  # build-info.json "format": bumped when its layout changes


def sha256(data: bytes) -> str:
    """The digest SHA256SUMS lists for a file."""
    return hashlib.sha256(data).hexdigest()
