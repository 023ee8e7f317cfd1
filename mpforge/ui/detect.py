"""`invoke detect`'s report: each board's facts as a two-column table (rich, wrapped to the
terminal: ui/tables.py), the profiles that fit and why, or the nearest; a fact that
could not be read says so in place of a value (docs/detect.md). Returns text; ui prints it."""

from __future__ import annotations

from rich.text import Text

from mpforge.text import size_text
from mpforge.ui.tables import render, table

SEPARATE_PSRAM = "a separate PSRAM chip does not show in the eFuses (`invoke verify` finds it)"


def _flash(board) -> str:
    jedec = f"JEDEC id {board.flash_id:06X}" if board.flash_id is not None else "no JEDEC id"
    kind = (f"{board.flash_type} (eFuse)" if board.flash_type else
            "quad or octal not read (this chip has no such eFuse)")
    if board.flash_known:
        return (f"{size_text(board.flash_size)} {kind}; {jedec}, capacity byte "
                f"{board.flash_capacity_byte:02X}")
    byte = f"{board.flash_capacity_byte:02X}" if board.flash_capacity_byte is not None else "?"
    return (f"size not known: esptool does not know capacity byte {byte} ({jedec}), "
            f"so no size is assumed; {kind}")


def _psram(board) -> str:
    if board.psram_efuse is None:
        return "not read: mpforge does not know how this chip's eFuses show PSRAM"
    vendor = f", vendor {board.psram_vendor}" if board.psram_vendor else ""
    if not board.psram_known:
        return (f"not known: PSRAM eFuse value {board.psram_efuse} is no size mpforge's chip "
                f"registry lists{vendor}")
    if not board.psram_size:
        return f"none in the package (PSRAM eFuse 0); {SEPARATE_PSRAM}"
    return (f"{size_text(board.psram_size)} {board.psram_mode} in the package (PSRAM eFuse "
            f"{board.psram_efuse}{vendor})")


def _usb(board) -> str:
    usb = board.usb
    if usb is None or usb.path == "unknown":
        if "://" in board.port:
            return "not known: a network port (URL) has no USB id"
        return f"not known: {usb.text() if usb else 'no USB id'}"
    return f"{usb.path}: {usb.text()}"


def _fit_line(f) -> str:
    own = " (its own partition layout: only with --profile)" if f.chosen_layout else ""
    return f"{f.profile.name}{own}: {', '.join(f.reasons)}"


def facts(board) -> list[tuple[str, str]]:
    """(what, value) rows for one board that answered."""
    chip = board.description or board.chip
    if "revision" not in chip:
        chip += f" (revision {board.revision})"
    rows = [("chip", chip + ("" if board.chip_key else "; not a chip mpforge builds for")),
            ("MAC", board.mac), ("flash", _flash(board)),
            ("PSRAM", _psram(board)), ("USB path", _usb(board))]
    firmware = firmware_text(board)
    if firmware:
        rows.append(("firmware", firmware))
    fitting = board.fitting
    if fitting:
        rows += [("fits" if i == 0 else "", _fit_line(f)) for i, f in enumerate(fitting)]
    elif board.fits and board.fits[0].reasons:  # the nearest is a profile for this chip
        nearest = board.fits[0]
        rows.append(("fits", "no profile"))
        rows.append(("nearest", f"{nearest.profile.name}: {'; '.join(nearest.differences)}"))
    else:
        rows.append(("fits", "no profile: mpforge's profiles are for other chips"))
    rows.append(("next", next_step(board)))
    return rows


def firmware_text(board) -> str:
    """With --repl: the running image and how much of the board it uses, or why not read."""
    usage = board.usage()
    if usage is None:
        return f"not read: {board.running_note}" if board.running_note else ""
    text, full = usage
    return text + ("; uses the whole board" if full else "; does not use the whole board")


def board_text(board, columns: int | None = None) -> str:
    """One board: its port, then its facts, indented."""
    head = render(Text(f"detect: {board.port}", overflow="fold"), columns)  # a long port folds, whole
    return head + "\n" + table((), facts(board), keep=(0,), indent=2, columns=columns)


def next_step(board) -> str:
    """What to do with the board now (one line)."""
    plain = [f for f in board.fitting if not f.chosen_layout]
    port = board.port
    if len(plain) == 1:
        name = plain[0].profile.name
        return f"`invoke build-all --port {port}`, then `invoke flash --port {port}` (both choose {name})"
    if plain:
        return f"{len(plain)} profiles fit: pick one with --profile"
    if board.fitting:
        return "only profiles with their own partition layout fit: pick one with --profile"
    if not board.chip_key:
        return f"none: mpforge builds no firmware for an {board.chip}"
    return f"write a profile from the board: `invoke detect --port {port} --new-profile NAME`"
