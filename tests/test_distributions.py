"""The breaker model's distribution functions, called through scipy.special as scipy.stats
calls them (so `recommend` starts without importing scipy.stats): the same numbers to the bit,
edges included, and `recommend` never imports scipy.stats."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from analyzer.analysis.stats.breaker import (
    beta_quantile,
    binomial_sf,
    normal_quantile,
    poisson_quantile,
)


def same(found: object, expected: object) -> bool:
    a, b = np.asarray(found, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return (
        a.shape == b.shape
        and np.array_equal(a, b, equal_nan=True)
        and np.array_equal(np.signbit(a), np.signbit(b))
    )


def test_normal_quantile_is_scipy_stats() -> None:
    for q in (0.0, 1e-12, 0.05, 0.5, 0.9, 0.95, 0.975, 0.99, 0.999, 1.0):
        assert same(normal_quantile(q), stats.norm.ppf(q)), q


def test_beta_quantile_is_scipy_stats() -> None:
    rng = np.random.default_rng(7)
    cases = [(0.95, 1.0, 1.0), (0.05, 3.0, 0.0), (0.0, 2.0, 5.0), (1.0, 2.0, 5.0), (0.5, -1, 2)]
    for _ in range(300):
        trials = float(rng.integers(1, 10 ** int(rng.integers(1, 7))))
        events = float(rng.integers(0, int(trials) + 1))
        for q in (0.95, 0.05, 0.999, float(rng.random())):
            cases += [(q, events + 1, trials - events), (q, events, trials - events + 1)]
    for q, a, b in cases:
        assert same(beta_quantile(q, a, b), stats.beta.ppf(q, a, b)), (q, a, b)


def test_binomial_sf_is_scipy_stats() -> None:
    rng = np.random.default_rng(8)
    for _ in range(200):
        n = int(rng.integers(0, 2000))
        p = float(rng.choice([rng.random(), rng.random() * 1e-3, 0.0, 1.0]))
        for k in (-2, -1, 0, n // 3, n - 1, n, n + 1):
            assert same(binomial_sf(k, n, p), stats.binom.sf(k, n, p)), (k, n, p)
        window = int(rng.integers(1, 300))
        calls = np.arange(1, window + 1)
        needed = np.maximum(1, np.ceil(float(rng.random()) * calls - 1e-9))
        assert same(binomial_sf(needed - 1, calls, p), stats.binom.sf(needed - 1, calls, p))
        assert same(binomial_sf(calls - 1, window, p), stats.binom.sf(calls - 1, window, p))


def test_poisson_quantile_is_scipy_stats() -> None:
    rng = np.random.default_rng(9)
    for _ in range(2000):
        q = float(rng.choice([0.999, 0.95, float(rng.random())]))
        mu = float(rng.choice([0.0, rng.random() * 1e-6, rng.random(), rng.random() * 1e5]))
        assert same(poisson_quantile(q, mu), stats.poisson.ppf(q, mu)), (q, mu)
    assert same(poisson_quantile(0.999, float("nan")), stats.poisson.ppf(0.999, float("nan")))


def test_recommend_does_not_import_scipy_stats(recommended_store: Path) -> None:
    analyze = Path(sys.executable).parent / "analyze"
    argv = [str(analyze), "recommend", "--env", "staging", "--store", str(recommended_store)]
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}  # each import listed on stderr
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    # scipy loads its subpackages lazily: their modules are listed, not always the package
    assert any(m.startswith("scipy.special.") for m in loaded)
    assert not [m for m in loaded if m == "scipy.stats" or m.startswith("scipy.stats.")]
