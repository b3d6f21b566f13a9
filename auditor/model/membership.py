"""Membership masks over a large column, without pandas' ``isin`` rebuilding a hash table from a big set."""

from __future__ import annotations

from collections.abc import Set
from typing import Any

import numpy as np
import pandas as pd


def in_set(values: pd.Series, wanted: Set[Any]) -> pd.Series:
    """``values.isin(wanted)`` for a set that is already built (e.g. the members of an all-staff group).

    ``isin`` copies the set into an array and hashes it again on every call, which costs more than the lookups
    when the set is as large as the column; a set's own membership test does the same comparison."""
    found = np.fromiter(map(wanted.__contains__, values.tolist()), dtype=bool, count=len(values))
    return pd.Series(found, index=values.index, dtype=bool)
