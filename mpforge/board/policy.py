"""A board's fingerprint read over esptool (the data: mpforge.model.fingerprint) and
whether a firmware or a profile may go onto it (the judge's rules, as one-line
refusals).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from esptool.cmds import detect_flash_size

from mpforge.text import size_text
from mpforge.errors import UserError
from mpforge.image import judge
from mpforge.image.firmware import Firmware
from mpforge.model import chips
from mpforge.model.fingerprint import Fingerprint  # re-exported: policy.Fingerprint
from mpforge.model.profiles import MB, Profile

if TYPE_CHECKING:
    from mpforge.board.transport import Reporter


def _size(text: str | None) -> int:
    """esptool's size text ('16MB', '512KB') -> bytes; 0 for None."""
    if not text:
        return 0
    return int(text[:-2]) * (MB if text.endswith("MB") else 1024)


def fingerprint(esp) -> Fingerprint:
    """What the chip says it is, as every board task reads it (docs/detect.md, "What is read").
    The flash size is esptool's reading of the JEDEC id's capacity byte (detect_flash_size:
    its table DETECTED_FLASH_SIZES); a byte it does not know leaves the size unknown (0)."""
    size = _size(detect_flash_size(esp))
    octal = hasattr(esp, "flash_type") and esp.flash_type() == 1
    psram_efuse, psram_size, psram_mode = None, 0, "none"
    chip = chips.by_name(esp.CHIP_NAME)
    if chip is not None and chip.psram_efuse:  # the registry says how its PSRAM eFuse reads
        psram_efuse = esp.get_psram_cap()
        psram_size, psram_mode = chip.psram(psram_efuse)
    mac = ":".join(f"{b:02x}" for b in esp.read_mac())
    return Fingerprint(esp.CHIP_NAME, size, "octal" if octal else "quad", psram_size, psram_mode, mac,
                       psram_efuse)


# The reset after a flash, by the port's USB path (docs/flashing.md, "The reset after a
# flash"): over the chip's own USB the ROM does not always start the app after an RTS
# reset (esptool issue #970), the watchdog always does; a USB-UART bridge's DTR/RTS
# circuit (and a port whose path is unknown) resets as esptool does by default.
_OWN_USB = ("usb-serial-jtag", "usb-otg-cdc")


def reset_after(after: str, path, after_modes: tuple[str, ...] = ()) -> tuple[str, str]:
    """(esptool's `after` mode, why) for a port whose USB path is `path` (ports.UsbPath):
    the setting when it names a mode (it always wins), else the one that fits the path
    (and that the chip can do). `why` is short: it ends flash's final line (the README and
    docs/flashing.md say that the `after` setting chooses)."""
    if after != "auto":
        return after, "set by the `after` setting"
    if path.path in _OWN_USB and (not after_modes or "watchdog-reset" in after_modes):
        own = "USB-Serial/JTAG" if path.path == "usb-serial-jtag" else "USB (MicroPython's USB CDC)"
        return "watchdog-reset", f"the chip's {own}"
    if path.path == "usb-uart-bridge":
        return "hard-reset", f"a {path.name}"
    return "hard-reset", "the port's USB path is unknown"


def check_board(fp: Fingerprint, profile: Profile, port: str, force: bool,
                reporter: "Reporter | None" = None) -> None:
    """Refuse a board that does not match the profile (the judge's rules; a wrong chip even
    with --force). PSRAM in a separate chip (psram.external) is left to verify."""
    problems = judge.board_problems(fp, profile)
    if profile.psram_external and reporter is not None and not any(p.rule == "chip" for p in problems):
        reporter.step("PSRAM is a separate chip (psram.external), not in the eFuses: "
                      "`invoke verify` proves it", keep=True)
    if not judge.blocking(problems, force):
        return
    if problems[0].rule == "chip":
        raise UserError(f"the board on {port} is an {fp.chip}; profile {profile.name} is for an "
                        f"{problems[0].wanted}")
    needs_psram = (f"{size_text(profile.psram_size, space=False)} {profile.psram_mode} PSRAM"
                   if profile.psram_size else "no PSRAM")
    raise UserError(
        f"the board on {port} does not match profile {profile.name} "
        f"({'; '.join(p.message for p in problems)}): found {fp.chip} with {fp.hardware()}; the "
        f"profile needs {profile.flash_size_label} {profile.flash_type} flash, {needs_psram} "
        f"(--force flashes anyway)")


def check_firmware(fw: Firmware, profile: Profile, force: bool = False) -> None:
    """Refuse, before any board is touched, a firmware the judge finds wrong for the profile
    (with --force, one built for another flash size is let through)."""
    problems = judge.blocking(judge.firmware_problems(fw, profile), force)
    overridable = " (or --force)" if all(p.forcible for p in problems) else ""
    judge.refuse(problems, suffix=f"; build it for profile {profile.name} "
                                  f"(`invoke build --profile {profile.name}`){overridable}")
