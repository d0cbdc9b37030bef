"""Covariance of maximum-likelihood estimates from the observed information."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def inverse_hessian(
    negative_log_likelihood: Callable[[FloatArray], float], x: FloatArray, steps: FloatArray
) -> FloatArray | None:
    """The inverse of the central-difference Hessian at the optimum `x` (one step per
    parameter); None where it is not a covariance: the data pin the parameters down nowhere."""
    size = x.size
    unit = np.eye(size)
    hessian = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            ei, ej = unit[i] * steps[i], unit[j] * steps[j]
            hessian[i, j] = (
                negative_log_likelihood(x + ei + ej)
                - negative_log_likelihood(x + ei - ej)
                - negative_log_likelihood(x - ei + ej)
                + negative_log_likelihood(x - ei - ej)
            ) / (4 * steps[i] * steps[j])
    if not np.all(np.isfinite(hessian)):
        return None
    try:
        inverse = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(inverse)) or np.any(np.diag(inverse) < 0):
        return None
    return np.asarray(inverse, dtype=np.float64)
