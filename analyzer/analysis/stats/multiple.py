"""Many tests at once: the Benjamini-Hochberg step-up procedure for the false discovery rate."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def benjamini_hochberg(p_values: ArrayLike) -> NDArray[np.float64]:
    """BH-adjusted p-values (q-values): a test is a discovery at false discovery rate q when
    its q-value is at most q. Valid for independent tests and for positively dependent ones
    (Benjamini and Yekutieli 2001), such as one-sided tests on overlapping data."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out
