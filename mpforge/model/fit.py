"""Which profiles fit a board: the hardware a profile describes against what the board's
eFuses and flash id say (a Fingerprint). Pure data, used by `invoke detect` and by the
tasks that choose a profile from the board (docs/detect.md, "Choosing a profile").

A profile fits when it is exactly the board: the same chip, flash size and type, and the
same embedded PSRAM (a profile whose PSRAM is a separate chip fits a board whose eFuses
show none; verify proves it). A profile that would run but leave flash or PSRAM unused
does not fit: using the whole board is the point. A profile that chooses its own
partition layout ([partitions]) is a choice for the user, so it is offered, never chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from mpforge.errors import UserError
from mpforge.model import chips
from mpforge.model.fingerprint import Fingerprint
from mpforge.model.profiles import Profile
from mpforge.text import size_text


@dataclass(frozen=True)
class Fit:
    """One profile held against one board."""

    profile: Profile
    reasons: tuple[str, ...]  # what matches, e.g. "16MB quad flash"
    differences: tuple[str, ...]  # what does not; empty when the profile fits

    @property
    def fits(self) -> bool:
        return not self.differences

    @property
    def chosen_layout(self) -> bool:
        """The profile picks its partition layout, so it is offered but not chosen."""
        return self.profile.partitions is not None


def _psram(size: int, mode: str) -> str:
    return f"{size_text(size, space=False)} {mode} PSRAM" if size else "no PSRAM"


def hold(board: Fingerprint, profile: Profile) -> Fit:
    """How `profile` compares with `board`, fact by fact."""
    reasons: list[str] = []
    differences: list[str] = []
    wanted_chip = chips.get(profile.chip).name
    if board.chip != wanted_chip:
        return Fit(profile, (), (f"it is for an {wanted_chip}, the board is an {board.chip}",))
    reasons.append(board.chip)
    flash = f"{profile.flash_size_label} {profile.flash_type} flash"
    if not board.flash_size:
        differences.append("the board's flash size could not be read")
    elif board.flash_size != profile.flash_size:
        differences.append(f"{profile.flash_size_label} flash, the board has "
                           f"{size_text(board.flash_size, space=False)}")
    if board.flash_type != profile.flash_type:
        differences.append(f"{profile.flash_type} flash, the board's is {board.flash_type}")
    if not differences:
        reasons.append(flash)
    if profile.psram_external:
        if board.psram_size:
            differences.append(f"a separate PSRAM chip, the board has {_psram(board.psram_size, board.psram_mode)}"
                               " in the package")
        else:
            reasons.append(f"{_psram(profile.psram_size, profile.psram_mode)} as a separate chip "
                           "(not in the eFuses: verify proves it)")
    elif (profile.psram_size, profile.psram_mode) != (board.psram_size, board.psram_mode):
        differences.append(f"{_psram(profile.psram_size, profile.psram_mode)}, the board has "
                           f"{_psram(board.psram_size, board.psram_mode)}")
    else:
        reasons.append(_psram(board.psram_size, board.psram_mode))
    return Fit(profile, tuple(reasons), tuple(differences))


def closeness(held: Fit) -> tuple:
    """Sort key: the fits first (a chosen layout after a plain one), then the nearest misses."""
    return (len(held.differences), held.chosen_layout, held.profile.name)


def rank(board: Fingerprint, profiles: Iterable[Profile]) -> list[Fit]:
    """Every profile against the board: the fits first, then the nearest misses."""
    return sorted((hold(board, p) for p in profiles), key=closeness)


@dataclass(frozen=True)
class Choice:
    """The profile chosen for a board, and the other fits the user may pick instead."""

    fit: Fit
    alternatives: tuple[Fit, ...]

    def why(self) -> str:
        return ", ".join(self.fit.reasons)


def choose(board: Fingerprint, profiles: Iterable[Profile], port: str) -> Choice:
    """The one profile that fits the board, or a one-line refusal naming the candidates
    (several fit) or the nearest (none fits)."""
    ranked = rank(board, profiles)
    fits = [f for f in ranked if f.fits]
    plain = [f for f in fits if not f.chosen_layout]
    what = f"the board on {port} ({board.hardware()})"
    if len(plain) == 1:
        return Choice(plain[0], tuple(f for f in fits if f is not plain[0]))
    if len(plain) > 1:
        names = ", ".join(f.profile.name for f in plain)
        raise UserError(f"{len(plain)} profiles fit {what}: {names}; pick one with --profile")
    if fits:  # only profiles with their own layout fit: that choice is the user's
        names = ", ".join(f.profile.name for f in fits)
        raise UserError(f"only profiles with their own partition layout fit {what}: {names}; "
                        "pick one with --profile")
    if not ranked:
        raise UserError(f"no profiles to choose from for {what}; add one to boards/")
    if all(not f.reasons for f in ranked):  # not one profile is for this chip
        made_for = ", ".join(sorted({chips.get(f.profile.chip).name for f in ranked}))
        raise UserError(f"the board on {port} is an {board.chip}; mpforge's profiles are for "
                        f"{made_for} only")
    nearest = ranked[0]
    raise UserError(f"no profile fits {what}; nearest: {nearest.profile.name} "
                    f"({'; '.join(nearest.differences)}); write one with "
                    f"`invoke detect --port {port} --new-profile NAME`")
