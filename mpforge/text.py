"""Plain text formatting shared by library results and the output module: no printing here."""

from __future__ import annotations


def size_text(n: int | None, space: bool = True) -> str:
    """Bytes as short text: '16 MB', '13.5 MB', '320 KB', '12 B' ('?' for None).
    space=False writes '16MB', as Kconfig and esptool spell flash sizes."""
    if n is None:
        return "?"
    sep = " " if space else ""
    mb = 1024 * 1024
    if n % mb == 0 or n >= mb:
        return f"{n // mb}{sep}MB" if n % mb == 0 else f"{n / mb:.1f}{sep}MB"
    if n >= 1024:
        return f"{n / 1024:.0f}{sep}KB"
    return f"{n}{sep}B"
