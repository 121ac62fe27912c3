#!/usr/bin/env python
"""Prints the polynomial coefficients of exporter/runtime_c/vmath.h (float32 exp, erf, tanh), and the fit error.

    python scripts/fit_vmath.py

Each is a weighted least-squares fit on Chebyshev nodes, reweighted toward minimax (Lawson's algorithm),
in float64 against math.erf/erfc/numpy.exp/tanh; vmath.h keeps the float32 roundings printed here.
tests/cpp/test_vmath.cpp measures what counts: the float32 results in ulp.
"""
import math

import numpy as np


def nodes(lo, hi, n=4000):
    k = np.arange(n)
    return (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * (k + 0.5) / n)


def fit(x, target, powers, weight, iters=30):
    """Coefficients c of sum(c_k * x**powers[k]) minimising max |error| / weight; and that maximum."""
    a = np.stack([x ** p for p in powers], 1)
    w = np.ones_like(x)
    for _ in range(iters):
        s = np.sqrt(w) / weight
        c, *_ = np.linalg.lstsq(a * s[:, None], target * s, rcond=None)
        err = np.abs(a @ c - target) / weight
        w = w * err
        w /= w.sum()
    return c, float(err.max())


def show(name, c, err):
    print(f"{name}: max error {err:.3g}, coefficients lowest power first:")
    print("   ", ", ".join(f"{float(np.float32(v))!r}f" for v in c))


def main():
    # exp: e^r = 1 + r + r^2 q(r) on |r| <= ln2/2, relative error
    r = nodes(-0.3466, 0.3466)
    show("exp q(r)", *fit(r, (np.exp(r) - 1 - r) / r**2, range(6), np.exp(r) / r**2))
    # erf(a) = a P(a^2) on [0, 1], relative error
    x = nodes(1e-4, 1.0)
    t = np.array([math.erf(v) for v in x]) / x
    show("erf P(a^2)", *fit(x, t, range(0, 14, 2), t))
    # erf(a) = 1 - e^Q(a) on [1, 3.93], Q in powers of a - 2.5: absolute error of log erfc = relative of erfc
    x = nodes(1.0, 3.93)
    t = np.array([math.log(math.erfc(v)) for v in x])
    show("erf Q(a - 2.5)", *fit(x - 2.5, t, range(10), np.ones_like(x)))
    # tanh(a) = a + a^3 P(a^2) on [0, 0.625], relative error of tanh
    x = nodes(1e-3, 0.625)
    show("tanh P(a^2)", *fit(x, (np.tanh(x) - x) / x**3, range(0, 10, 2), np.tanh(x) / x**3))


if __name__ == "__main__":
    main()
