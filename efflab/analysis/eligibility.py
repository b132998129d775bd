"""Which points count: the one eligibility rule (status ok, an energy figure, not ``unstable``, not
still ``disturbed``), and the reason for every point that does not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from efflab.analysis.uncertainty import number, value
from efflab.records import flag_names

if TYPE_CHECKING:
    import pandas as pd

# Flags that keep a point out of stars and recommendations (it stays ``ok`` in the store).
INELIGIBLE_FLAGS: tuple[str, ...] = ("unstable", "disturbed")
# Flags whose points are rated but never set the star bands.
NO_BANDS_FLAGS: tuple[str, ...] = ("noisy", "unstable", "disturbed")


def flags_of(row: Any) -> set[str]:
    """The flag names of a results row or point (``efflab.records.flag_names``: the one reading of the
    store's ``a,b`` text), unknown names kept."""
    return set(flag_names(value(row, "flags")))


@dataclass(frozen=True)
class Ineligible:
    """Why a point does not count for stars and recommendations.

    Attributes:
        kind: ``failed`` (or another status), ``no energy figure``, ``unstable``, ``disturbed`` or
            ``unstable and disturbed``.
        reason: one sentence (the error, or what the flags mean and why they were set).
    """

    kind: str
    reason: str


def ineligibility(row: Any) -> Ineligible | None:
    """The one eligibility rule (status ok, an energy figure, no ``INELIGIBLE_FLAGS``): why a results row
    or point does not count, None when it does."""
    from efflab.records import FLAG_MEANINGS

    status = value(row, "status")
    if status not in (None, "ok"):
        err = value(row, "error")
        return Ineligible(str(status), f"{status}: {err}" if err else str(status))
    if number(row, "energy_j_per_query") is None:
        return Ineligible("no energy figure", "no energy figure was recorded")
    bad = [f for f in INELIGIBLE_FLAGS if f in flags_of(row)]
    if bad:
        why = value(row, "unstable_reason")
        meanings = "; ".join(FLAG_MEANINGS.get(f, f) for f in bad)
        return Ineligible(" and ".join(bad), f"{', '.join(bad)}: {why or meanings}")
    return None


def exclusion_reason(row: Any) -> str | None:
    """Why a point is not eligible (one sentence), None when it is (:func:`ineligibility`)."""
    w = ineligibility(row)
    return None if w is None else w.reason


def exclusion_kind_of(row: Any) -> str | None:
    """The kind of a point's exclusion (:attr:`Ineligible.kind`), None when it is eligible."""
    w = ineligibility(row)
    return None if w is None else w.kind


def eligible_mask(df: pd.DataFrame) -> pd.Series:
    """True on the rows of ``df`` that are eligible for stars and recommendations."""
    import pandas as pd

    return pd.Series([exclusion_reason(r) is None for _, r in df.iterrows()], index=df.index, dtype=bool)


def sets_bands(row: Any) -> bool:
    """False for a point whose flags say its energy may be inflated (it is rated, never sets bands)."""
    return not (flags_of(row) & set(NO_BANDS_FLAGS))
