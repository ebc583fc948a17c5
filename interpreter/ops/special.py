"""Special functions numpy lacks: the error function, its complement and the normal CDF.

numpy has no erf, scipy is not a dependency, and `math.erf` applied element by element is a
Python-speed loop. `erfc` here is W. J. Cody's rational Chebyshev approximation ("Rational
Chebyshev approximation for the error function", Math. Comp. 23 (1969), 631-638; the
coefficients of netlib's SPECFUN CALERF), vectorised. Measured against `math.erfc` in
float64 over [-30, 30] (1.6 million points), its relative error stays below 1e-15 wherever
erfc is a normal float (above 2.2e-308), and erf's relative error below 7e-16;
tests/test_activations_losses.py pins both. In float32 the same arithmetic runs in float32,
accurate to float32 rounding. It is about three times as fast as a Python loop over
`math.erfc`.
"""
from __future__ import annotations

import math

import numpy as np

from .lowering import floats, polynomial

# erf(x) = x P(x^2) / Q(x^2) for |x| <= 0.46875 (highest power first).
_SMALL_P = (1.85777706184603153e-1, 3.16112374387056560e00, 1.13864154151050156e02,
            3.77485237685302021e02, 3.20937758913846947e03)
_SMALL_Q = (1.0, 2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
            2.84423683343917062e03)
# erfc(y) = exp(-y^2) P(y) / Q(y) for 0.46875 < y <= 4.
_MID_P = (2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e00,
          6.61191906371416295e01, 2.98635138197400131e02, 8.81952221241769090e02,
          1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03)
_MID_Q = (1.0, 1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
          1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
          3.43936767414372164e03, 1.23033935480374942e03)
# erfc(y) = exp(-y^2) / y (1/sqrt(pi) - s P(s) / Q(s)), s = 1/y^2, for y > 4.
_BIG_P = (1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1,
          1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4)
_BIG_Q = (1.0, 2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
          6.05183413124413191e-2, 2.33520497626869185e-3)
_SMALL = 0.46875
_MID = 4.0
# erfc(y) underflows to 0 in float64 long before y = 30; clamping there keeps y*y finite.
_CLAMP = 30.0


def _polynomial(coefficients: tuple[float, ...], t: np.ndarray) -> np.ndarray:
    """Horner's rule, highest power first; Python-float coefficients keep t's dtype."""
    total = np.full_like(t, coefficients[0])
    for c in coefficients[1:]:
        total *= t
        total += c
    return total


def _exp_minus_square(y: np.ndarray) -> np.ndarray:
    # exp(-y^2) as exp(-s^2) exp(-(y - s)(y + s)), s = y rounded down to a multiple of
    # 1/16 (Cody's trick): s^2 is exact and the second factor's argument is small, so the
    # rounding error of y*y (up to 1e-13 relative once y^2 is in the hundreds) is not
    # magnified by exp. Summing the two arguments first would round them again.
    s = np.trunc(16.0 * y) / 16.0
    return np.exp(-(s * s)) * np.exp(-(y - s) * (y + s))


def _erf_small(t: np.ndarray) -> np.ndarray:
    t2 = t * t
    return t * _polynomial(_SMALL_P, t2) / _polynomial(_SMALL_Q, t2)


def _erfc_mid(y: np.ndarray) -> np.ndarray:
    return _exp_minus_square(y) * _polynomial(_MID_P, y) / _polynomial(_MID_Q, y)


def _erfc_big(y: np.ndarray) -> np.ndarray:
    y = np.minimum(y, _CLAMP)
    s = 1.0 / (y * y)
    tail = s * _polynomial(_BIG_P, s) / _polynomial(_BIG_Q, s)
    return _exp_minus_square(y) * ((1.0 / math.sqrt(math.pi)) - tail) / y


def _erfc_of_abs(y: np.ndarray) -> np.ndarray:
    """erfc(y) for y = |z| >= 0 (or NaN), one range of Cody's approximation per element."""
    out = np.full_like(y, np.nan)
    small = y <= _SMALL
    mid = (y > _SMALL) & (y <= _MID)
    big = y > _MID
    out[small] = 1.0 - _erf_small(y[small])
    out[mid] = _erfc_mid(y[mid])
    out[big] = _erfc_big(y[big])
    return out


# Elements per block: a block's dozens of temporaries then stay small and cache-resident
# instead of each being a fresh multi-megabyte allocation (1.5x faster on 1e6 elements).
_BLOCK = 1 << 16


def erfc(z: np.ndarray) -> np.ndarray:
    """erfc(z) = 1 - erf(z) = 2/sqrt(pi) * integral from z to inf of exp(-t^2) dt.

    Accurate relative to erfc itself (not just to 1), so 0.5 erfc(-x/sqrt 2), the normal
    CDF, keeps its relative accuracy deep in the left tail where 1 + erf(x) would cancel.
    Same shape and dtype as z; NaN stays NaN.
    """
    z = np.asarray(z)
    flat = z.reshape(-1)
    out = np.empty_like(flat)
    for start in range(0, flat.size, _BLOCK):
        block = flat[start:start + _BLOCK]
        result = _erfc_of_abs(np.abs(block))
        # erfc(-y) = 2 - erfc(y) (for |z| <= 0.46875 this is 1 + erf(y), the same sum).
        out[start:start + _BLOCK] = np.where(block < 0, 2.0 - result, result)
    return out.reshape(z.shape)


def erf(z: np.ndarray) -> np.ndarray:
    """erf(z), as 1 - erfc(z) except near 0, where the direct series keeps it relatively
    accurate (erf(1e-10) would otherwise lose most of its digits to the subtraction)."""
    z = np.asarray(z)
    small = np.abs(z) <= _SMALL
    return np.where(small, _erf_small(np.where(small, z, 0.0)), 1.0 - erfc(z))


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x) = P(N(0, 1) <= x) = erfc(-x / sqrt 2) / 2, relatively accurate in both tails
    (the right tail as 1 - a tiny number, which is all a float can hold)."""
    return 0.5 * erfc(x * -math.sqrt(0.5))


def _lower_exp_minus_square(b, y: str) -> str:
    """exp(-y^2) for y >= 0 in ONNX nodes, split as `_exp_minus_square` (floor = trunc)."""
    s = b.node("Div", [b.node("Floor", [b.node("Mul", [floats(b, 16.0), y])]),
                       floats(b, 16.0)])
    first = b.node("Exp", [b.node("Neg", [b.node("Mul", [s, s])])])
    rest = b.node("Mul", [b.node("Sub", [y, s]), b.node("Add", [y, s])])
    return b.node("Mul", [first, b.node("Exp", [b.node("Neg", [rest])])])


def lower_erfc(b, z: str) -> str:
    """erfc(z) as ONNX nodes: Cody's three ranges, each computed everywhere on a clamped
    copy of |z| (so none overflows) and the right one picked per element by Where. For
    exports whose runtime lacks Erf in this dtype (onnxruntime has no float64 Erf)."""
    y = b.node("Min", [b.node("Abs", [z]), floats(b, _CLAMP)])
    y2 = b.node("Mul", [y, y])
    small = b.node("Sub", [floats(b, 1.0), b.node("Div", [
        b.node("Mul", [y, polynomial(b, _SMALL_P, y2)]), polynomial(b, _SMALL_Q, y2)])])
    mid = b.node("Div", [b.node("Mul", [_lower_exp_minus_square(b, y),
                                        polynomial(b, _MID_P, y)]), polynomial(b, _MID_Q, y)])
    y_big = b.node("Max", [y, floats(b, _MID)])
    s = b.node("Reciprocal", [b.node("Mul", [y_big, y_big])])
    tail = b.node("Div", [b.node("Mul", [s, polynomial(b, _BIG_P, s)]),
                          polynomial(b, _BIG_Q, s)])
    big = b.node("Div", [b.node("Mul", [_lower_exp_minus_square(b, y_big), b.node("Sub", [
        floats(b, 1.0 / math.sqrt(math.pi)), tail])]), y_big])
    of_abs = b.node("Where", [b.node("LessOrEqual", [y, floats(b, _SMALL)]), small,
                              b.node("Where", [b.node("LessOrEqual", [y, floats(b, _MID)]),
                                               mid, big])])
    negative = b.node("Less", [z, floats(b, 0.0)])
    return b.node("Where", [negative, b.node("Sub", [floats(b, 2.0), of_abs]), of_abs])


def lower_normal_cdf(b, x: str) -> str:
    """Phi(x) = erfc(-x / sqrt 2) / 2 as ONNX nodes (see lower_erfc)."""
    z = b.node("Mul", [x, floats(b, -1.0 / math.sqrt(2.0))])
    return b.node("Mul", [floats(b, 0.5), lower_erfc(b, z)])


def lower_erf(b, z: str) -> str:
    """erf(z) as ONNX nodes, as `erf`: the direct series for |z| <= 0.46875 (where
    1 - erfc(z) would lose digits to cancellation), 1 - erfc(z) elsewhere. For float64,
    where onnxruntime has no Erf kernel."""
    small_z = b.node("Where", [b.node("LessOrEqual", [b.node("Abs", [z]), floats(b, _SMALL)]),
                               z, floats(b, 0.0)])
    z2 = b.node("Mul", [small_z, small_z])
    small = b.node("Div", [b.node("Mul", [small_z, polynomial(b, _SMALL_P, z2)]),
                           polynomial(b, _SMALL_Q, z2)])
    rest = b.node("Sub", [floats(b, 1.0), lower_erfc(b, z)])
    return b.node("Where", [b.node("LessOrEqual", [b.node("Abs", [z]), floats(b, _SMALL)]),
                            small, rest])
