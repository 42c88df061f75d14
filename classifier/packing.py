"""Compact pickling of large ``str -> number`` tables.

joblib unpickles with the pure-Python unpickler (it needs to for numpy arrays), which costs a
few microseconds per object: a model with 300k vocabulary and weight entries would take
seconds to load.  Packed, a table is one string and one array, and ``dict(zip(...))`` rebuilds
it in C in a few milliseconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SEP = "\x00"


def pack(table: dict[str, Any]) -> tuple[str, str, np.ndarray] | dict[str, Any]:
    """``("packed", joined_keys, values)``; the table itself if a key contains the separator."""
    keys = list(table)
    if any(SEP in k for k in keys):
        return table
    return ("packed", SEP.join(keys), np.array(list(table.values())))


def unpack(obj: Any) -> Any:
    if isinstance(obj, tuple) and len(obj) == 3 and obj[0] == "packed":
        _, joined, values = obj
        keys = joined.split(SEP) if len(values) else []
        return dict(zip(keys, values.tolist(), strict=True))
    return obj
