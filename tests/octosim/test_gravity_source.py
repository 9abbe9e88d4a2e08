"""The gravity source of a hydro stage: rho g for momenta, flux-based work for the gas energy."""

import numpy as np
import pytest

from octosim.fields import EGAS, GHOST, RHO, SX
from octosim.gravity import gravity_source, stage_sources

N, NF = 6, 6


def _block(rng):
    U = np.zeros((NF, N + 2 * GHOST, N + 2 * GHOST, N + 2 * GHOST))
    U[RHO] = rng.uniform(0.1, 2.0, U.shape[1:])
    U[SX:SX + 3] = rng.normal(size=(3,) + U.shape[1:])
    return U


def _fluxes(rng):
    Fx, Fy, Fz = (rng.normal(size=s) for s in ((NF, N + 1, N, N), (NF, N, N + 1, N),
                                               (NF, N, N, N + 1)))
    return Fx, Fy, Fz


def test_energy_source_is_minus_the_potential_energy_rate():
    """With no mass through the block's faces, sum S_E dV = -sum phi drho/dt dV (round-off)."""
    rng = np.random.default_rng(6)
    U, dx = _block(rng), 0.1
    Fx, Fy, Fz = _fluxes(rng)
    for F, ax in ((Fx, 1), (Fy, 2), (Fz, 3)):
        idx = [slice(None)] * 4
        idx[0], idx[ax] = RHO, [0, N]
        F[tuple(idx)] = 0.0
    phi = rng.normal(size=(N, N, N))
    g = rng.normal(size=(3, N, N, N))
    S = gravity_source(U, phi, g, fluxes=(Fx, Fy, Fz), dx=dx)
    drho = -((Fx[RHO, 1:] - Fx[RHO, :-1]) + (Fy[RHO, :, 1:] - Fy[RHO, :, :-1])
             + (Fz[RHO, :, :, 1:] - Fz[RHO, :, :, :-1])) / dx
    scale = np.abs(S[EGAS]).sum()
    assert abs(S[EGAS].sum() + (phi * drho).sum()) < 1e-13 * scale
    I = (slice(GHOST, GHOST + N),) * 3
    assert np.array_equal(S[SX:SX + 3], U[RHO][I] * g)
    assert not S[RHO].any() and not S[EGAS + 1:].any()


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_uniform_flow_in_a_uniform_field_gets_rho_v_dot_g(axis):
    """Uniform density and mass flux, linear phi: the work is rho v . g in every cell."""
    rng = np.random.default_rng(axis)
    U, dx, gval, flux = _block(rng), 0.05, -0.7, 1.3
    U[RHO] = 1.0
    Fx, Fy, Fz = (np.zeros(s) for s in ((NF, N + 1, N, N), (NF, N, N + 1, N),
                                       (NF, N, N, N + 1)))
    (Fx, Fy, Fz)[axis][RHO] = flux
    x = (np.arange(N) + 0.5) * dx
    shape = [1, 1, 1]
    shape[axis] = N
    phi = np.broadcast_to(-gval * x.reshape(shape), (N, N, N)).copy()
    g = np.zeros((3, N, N, N))
    g[axis] = gval
    S = gravity_source(U, phi, g, fluxes=(Fx, Fy, Fz), dx=dx)
    assert np.allclose(S[EGAS], flux * gval, rtol=1e-12, atol=0.0)


def test_static_gas_gets_no_work_and_stage_sources_stacks_leaves():
    class Sub:
        def __init__(self, U, dx):
            self.U, self.dx = U, dx

    rng = np.random.default_rng(1)
    subs = {("a",): Sub(_block(rng), 0.1), ("b",): Sub(_block(rng), 0.05)}
    keys = list(subs)
    phi = {k: rng.normal(size=(N, N, N)) for k in keys}
    g = {k: rng.normal(size=(3, N, N, N)) for k in keys}
    F = [np.zeros((2, NF) + s) for s in ((N + 1, N, N), (N, N + 1, N), (N, N, N + 1))]
    F[0][:, SX] = 1.0                      # momentum flux only: no mass moves
    S = stage_sources(subs, keys, phi, g, *F)
    assert S.shape == (2, NF, N, N, N)
    assert not S[:, EGAS].any()
    for i, k in enumerate(keys):
        assert np.array_equal(S[i], gravity_source(subs[k].U, phi[k], g[k],
                                                   fluxes=(F[0][i], F[1][i], F[2][i]),
                                                   dx=subs[k].dx))
    assert stage_sources(subs, [], phi, g, *F).shape[0] == 0
