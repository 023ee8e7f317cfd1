"""mpforge: build, flash and verify custom MicroPython firmware for ESP32-S3 boards."""

from pathlib import Path

__version__ = "0.1.0"

#: The repository root: relative settings paths resolve against it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
