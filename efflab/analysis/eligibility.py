"""Which points count: the one eligibility rule (status ok, an energy figure, not ``unstable``, not
still ``disturbed``), and the reason for every point that does not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from efflab.analysis.uncertainty import number, value

if TYPE_CHECKING:
    import pandas as pd

# Flags that keep a point out of stars and recommendations (it stays ``ok`` in the store).
INELIGIBLE_FLAGS: tuple[str, ...] = ("unstable", "disturbed")
# Flags whose points are rated but never set the star bands.
NO_BANDS_FLAGS: tuple[str, ...] = ("noisy", "unstable", "disturbed")


def flags_of(row: Any) -> set[str]:
    """The flags of a results row (stored as ``a,b`` text, or a list)."""
    f = value(row, "flags")
    if f is None:
        return set()
    if isinstance(f, (list, tuple)):
        return {str(x) for x in f if x}
    return {x.strip() for x in str(f).split(",") if x.strip()}


def exclusion_reason(row: Any) -> str | None:
    """Why a point is not eligible (one sentence), None when it is."""
    from efflab.records import FLAG_MEANINGS

    status = value(row, "status")
    if status not in (None, "ok"):
        err = value(row, "error")
        return f"{status}: {err}" if err else str(status)
    if number(row, "energy_j_per_query") is None:
        return "no energy figure was recorded"
    bad = [f for f in INELIGIBLE_FLAGS if f in flags_of(row)]
    if bad:
        why = value(row, "unstable_reason")
        meanings = "; ".join(FLAG_MEANINGS.get(f, f) for f in bad)
        return f"{', '.join(bad)}: {why or meanings}"
    return None


def exclusion_kind_of(row: Any) -> str | None:
    """The kind of a point's exclusion from its status and flags (None when it is eligible):
    ``failed``, ``no energy figure``, ``unstable``, ``disturbed`` or ``unstable and disturbed``."""
    status = value(row, "status")
    if status not in (None, "ok"):
        return str(status)
    if number(row, "energy_j_per_query") is None:
        return "no energy figure"
    bad = [f for f in INELIGIBLE_FLAGS if f in flags_of(row)]
    return " and ".join(bad) if bad else None


def eligible_mask(df: pd.DataFrame) -> pd.Series:
    """True on the rows of ``df`` that are eligible for stars and recommendations."""
    import pandas as pd

    return pd.Series([exclusion_reason(r) is None for _, r in df.iterrows()], index=df.index, dtype=bool)


def sets_bands(row: Any) -> bool:
    """False for a point whose flags say its energy may be inflated (it is rated, never sets bands)."""
    return not (flags_of(row) & set(NO_BANDS_FLAGS))
