"""Lane-Emden equation ``xi^-2 (xi^2 theta')' = -theta^n``, integrated numerically.

Fixed-step classical RK4 from a series start ``theta = 1 - xi^2/6 + n xi^4/120`` to the first
zero ``xi_1`` (Chandrasekhar 1939, ch. IV); values between steps come from cubic Hermite
interpolation of ``theta`` and ``theta'``, so the profile is accurate to ~1e-10 at the default
step.  ``n = 1`` has the closed form ``sin(xi)/xi``, used by the tests.
"""

from functools import lru_cache

import numpy as np
from numba import njit


def _rhs(xi, th, dth, n):
    return dth, -max(th, 0.0) ** n - 2.0 * dth / xi


@njit(cache=True, nogil=True, inline="always")
def theta_at(xi, x, t, d, xi1):
    """Return theta(xi) from the table ``x, t, d`` (``LaneEmden.table``): the cubic Hermite
    interpolant of its interval (``LaneEmden._hermite``'s), zero at and beyond ``xi1``."""
    if xi >= xi1:
        return 0.0
    i = min(max(np.searchsorted(x, xi) - 1, 0), x.shape[0] - 2)
    h = x[i + 1] - x[i]
    s = (xi - x[i]) / h
    s2 = s * s
    s3 = s2 * s
    val = ((2 * s3 - 3 * s2 + 1) * t[i] + (s3 - 2 * s2 + s) * h * d[i]
           + (-2 * s3 + 3 * s2) * t[i + 1] + (s3 - s2) * h * d[i + 1])
    return max(val, 0.0)


@njit(cache=True, nogil=True)
def _theta_many(xi, x, t, d, xi1, out):
    """``out[k] = theta_at(xi[k], ...)`` for a flat ``xi``."""
    for k in range(xi.shape[0]):
        out[k] = theta_at(xi[k], x, t, d, xi1)


class LaneEmden:
    """Tabulated solution of index ``n`` (0 <= n < 5): ``xi1``, ``theta(xi)``, ``dtheta(xi)``."""

    def __init__(self, n, h=1e-3):
        assert 0.0 <= n < 5.0, f"Lane-Emden index must be in [0, 5), got {n}"
        self.n = float(n)
        xi = h
        th = 1.0 - xi ** 2 / 6.0 + n * xi ** 4 / 120.0
        dth = -xi / 3.0 + n * xi ** 3 / 30.0
        xs, ts, ds = [0.0, xi], [1.0, th], [0.0, dth]
        while th > 0.0:
            k1 = _rhs(xi, th, dth, n)
            k2 = _rhs(xi + h / 2, th + h / 2 * k1[0], dth + h / 2 * k1[1], n)
            k3 = _rhs(xi + h / 2, th + h / 2 * k2[0], dth + h / 2 * k2[1], n)
            k4 = _rhs(xi + h, th + h * k3[0], dth + h * k3[1], n)
            th += h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
            dth += h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
            xi += h
            xs.append(xi)
            ts.append(th)
            ds.append(dth)
            assert xi < 50.0, "Lane-Emden integration did not reach a zero"
        self._x, self._t, self._d = np.array(xs), np.array(ts), np.array(ds)
        # Newton on the Hermite cubic of the last interval for the surface xi1
        x = xs[-2] - ts[-2] / ds[-2]
        for _ in range(30):
            x -= self._hermite(np.array([x]))[0][0] / self._hermite(np.array([x]))[1][0]
        self.xi1 = float(x)
        self.dtheta1 = float(self._hermite(np.array([x]))[1][0])

    def _hermite(self, xi):
        """Return the cubic Hermite interpolants of theta and theta' at ``xi``."""
        x, t, d = self._x, self._t, self._d
        i = np.clip(np.searchsorted(x, xi) - 1, 0, x.size - 2)
        j = i + 1
        h = x[j] - x[i]
        s = (xi - x[i]) / h
        s2, s3 = s ** 2, s ** 3     # each power once (the same values as written inline)
        ti, di, tj, dj = t[i], d[i], t[j], d[j]
        h00 = 2 * s3 - 3 * s2 + 1
        h10 = s3 - 2 * s2 + s
        h01 = -2 * s3 + 3 * s2
        h11 = s3 - s2
        val = h00 * ti + h10 * h * di + h01 * tj + h11 * h * dj
        g00 = (6 * s2 - 6 * s) / h
        g10 = 3 * s2 - 4 * s + 1
        g01 = (-6 * s2 + 6 * s) / h
        g11 = 3 * s2 - 2 * s
        return val, g00 * ti + g10 * di + g01 * tj + g11 * dj

    @property
    def table(self):
        """``(x, t, d, xi1)``: the tabulated xi, theta, theta' and the surface (``theta_at``)."""
        return self._x, self._t, self._d, self.xi1

    def theta(self, xi):
        """Return theta(xi) for xi >= 0, zero beyond the surface (``theta_at``)."""
        xi = np.asarray(xi, dtype=np.float64)
        flat = np.ascontiguousarray(xi.ravel())
        out = np.empty_like(flat)
        _theta_many(flat, *self.table, out)
        return out.reshape(xi.shape)

    def dtheta(self, xi):
        """Return theta'(xi), zero beyond the surface."""
        xi = np.asarray(xi, dtype=np.float64)
        _, der = self._hermite(xi.ravel())
        return np.where(xi.ravel() >= self.xi1, 0.0, der).reshape(xi.shape)

    def mass_integral(self):
        """Return ``-xi1^2 theta'(xi1)`` (the dimensionless mass)."""
        return -self.xi1 ** 2 * self.dtheta1


@lru_cache(maxsize=16)
def lane_emden(n):
    """Return the (cached) ``LaneEmden`` solution of index ``n``."""
    return LaneEmden(float(n))
