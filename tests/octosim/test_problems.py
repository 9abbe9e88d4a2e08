"""Problem modules: registry, parameter tables, initial data, exact solutions, Sedov radius."""
import math

import numpy as np
import pytest

from octosim.fields import EGAS, GHOST, RHO, SPECIES0, TAU, nfields
from octosim.hydro import BC_OUTFLOW, BC_REFLECT, primitives
from octosim.hydro.uniform import fill_all, run_uniform
from octosim.problems import available, criteria, get_problem, sedov, sod
from octosim.problems.riemann_exact import sample, star_state
from octosim.problems.state import resolve

G = GHOST
MINE = ("sod", "sedov", "blast", "sound_wave", "pulse")


def block(n, nspecies=0):
    return np.zeros((nfields(nspecies), n + 2 * G, n + 2 * G, n + 2 * G))


def test_registry_finds_problems_and_rejects_unknown():
    assert set(MINE) <= set(available())
    for name in MINE:
        assert get_problem(name).__name__.endswith(name)
    with pytest.raises(ValueError, match="unknown problem 'nosuch'"):
        get_problem("nosuch")
    with pytest.raises(ValueError, match="not a problem"):
        get_problem("criteria")


@pytest.mark.parametrize("name", MINE)
def test_params_table_and_init(name):
    mod = get_problem(name)
    for key, spec in mod.PARAMS.items():
        typ, default, bounds, doc = spec
        assert isinstance(default, typ) and isinstance(doc, str) and doc
        assert bounds is None or (typ is str and all(isinstance(c, str) for c in bounds)) or len(bounds) == 2
    with pytest.raises(ValueError, match="unknown parameter 'typo'"):
        resolve(mod.PARAMS, {"typo": 1})
    U = block(8, 2)
    x = np.linspace(-0.4375, 0.4375, 8)
    gamma = getattr(mod, "DEFAULT_GAMMA", 5 / 3)
    mod.init_data(U, x, x, x, {}, gamma)
    rho, vx, vy, vz, p = primitives(U, gamma)
    assert np.all(rho > 0) and np.all(p > 0)
    I = U[:, G:-G, G:-G, G:-G]
    assert np.allclose(I[TAU], (p / (gamma - 1)) ** (1 / gamma))
    fill_all(U, BC_OUTFLOW)
    assert mod.refine(U, 0, 1 / 8, {}) in (True, False)
    if hasattr(mod, "exact"):
        ex = mod.exact(x, x, x, 0.0 if name not in ("sod", "sedov") else 1e-9, {}, gamma)
        assert all(a.shape == (8, 8, 8) for a in ex)


def test_exact_riemann_star_states_toro():
    # Toro (2009) table 4.2, tests 1-3
    for st, (ps, us) in [((1, 0, 1, 0.125, 0, 0.1), (0.30313, 0.92745)),
                         ((1, -2, 0.4, 1, 2, 0.4), (0.00189, 0.0)),
                         ((1, 0, 1000, 1, 0, 0.01), (460.894, 19.5975))]:
        p, u = star_state(*st, 1.4)
        assert p == pytest.approx(ps, rel=2e-4, abs=1e-5) and u == pytest.approx(us, abs=1e-4)
    rho, u, p = sample(np.array([-2.0, 0.0, 0.5, 1.5, 2.0]), (1, 0, 1), (0.125, 0, 0.1), 1.4)
    assert rho[0] == 1 and rho[-1] == 0.125 and p[2] == pytest.approx(0.30313, rel=1e-4)
    assert rho[3] == pytest.approx(0.26557, rel=1e-4)          # post-shock density


def test_sod_diagonal_and_species():
    U = block(8, 2)
    x = (np.arange(8) + 0.5) / 8 - 0.5
    sod.init_data(U, x, x, x, {"direction": "diag"}, 1.4)
    I = U[:, G:-G, G:-G, G:-G]
    assert np.array_equal(I[RHO], I[RHO].transpose(1, 0, 2))  # symmetric under x<->y
    assert I[RHO, 0, 0, 0] == 1.0 and I[RHO, -1, -1, -1] == 0.125
    assert np.array_equal(I[SPECIES0] + I[SPECIES0 + 1], I[RHO])
    with pytest.raises(ValueError, match="direction"):
        sod.init_data(U, x, x, x, {"direction": "w"}, 1.4)


def test_sedov_xi0():
    assert sedov.xi0(5 / 3) == pytest.approx(1.15167, abs=2e-5)
    assert sedov.xi0(1.4) == pytest.approx(1.033, abs=1e-3)


def test_sedov_exact_energy():
    """The self-similar profile integrates back to E."""
    g = 5 / 3
    t = 0.05
    R = sedov.shock_radius(t, {}, g)
    r = np.linspace(0, R, 4001)[1:] * (1 - 1e-12)
    rho, vx, _, _, p = sedov.exact(r, [0.0], [0.0], t, {"p0": 0.0}, g)
    e = (0.5 * rho * vx ** 2 + p / (g - 1))[:, 0, 0]
    E = np.trapezoid(4 * math.pi * r ** 2 * e, r)
    assert E == pytest.approx(1.0, rel=2e-3)


@pytest.mark.slow
def test_sedov_shock_radius_3d_octant():
    """32^3 octant, reflecting at the origin faces: the shock is within 2% of xi0 (E t^2/rho)^(1/5)."""
    n, L, g = 32, 0.5, 5 / 3
    dx = L / n
    x = (np.arange(n) + 0.5) * dx
    P = {"r_init": 3.5 * dx}
    U = block(n)
    sedov.init_data(U, x, x, x, P, g)
    E0 = 8 * U[EGAS, G:-G, G:-G, G:-G].sum() * dx ** 3
    assert E0 == pytest.approx(1.0, rel=5e-3)
    t = (0.38 / sedov.xi0(g)) ** 2.5
    run_uniform(U, dx, g, t, cfl=0.4, bc=((BC_REFLECT, BC_OUTFLOW),) * 3)
    assert 8 * U[EGAS, G:-G, G:-G, G:-G].sum() * dx ** 3 == pytest.approx(E0, rel=1e-12)
    p = primitives(U, g)[4]
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    r = np.sqrt(X * X + Y * Y + Z * Z)
    w = dx / 2
    idx = (r / w).astype(int).ravel()
    cnt = np.bincount(idx)
    ok = cnt > 0
    prof = (np.bincount(idx, p.ravel()) / np.maximum(cnt, 1))[ok]
    rc = ((np.arange(len(cnt)) + 0.5) * w)[ok]
    k = np.argmax(prof)
    half = 0.5 * (prof[k] + prof[-1])
    j = k + np.argmax(prof[k:] < half)
    Rnum = rc[j - 1] + (prof[j - 1] - half) / (prof[j - 1] - prof[j]) * (rc[j] - rc[j - 1])
    R = sedov.shock_radius(t, P, g)
    print(f"Sedov 32^3 octant: R_num {Rnum:.4f}, R {R:.4f}, rel {Rnum / R - 1:+.4f}")
    assert abs(Rnum / R - 1) < 0.02


def test_refinement_criteria():
    U = block(4)
    U[RHO] = 1.0
    assert criteria.max_rel_gradient(U, RHO, 1e-30) == 0.0
    assert not criteria.gradient_refine(U, RHO, 0.01)
    U[RHO, G + 2, G + 1, G + 1] = 2.0
    assert criteria.max_rel_gradient(U, RHO, 1e-30) == pytest.approx(1 / 3)
    assert criteria.gradient_refine(U, RHO, 0.2)
    U[RHO, G + 2, G + 1, G + 1] = 1.0
    U[RHO, 0, 0, 0] = 100.0                        # a corner ghost is never looked at
    assert criteria.max_rel_gradient(U, RHO, 1e-30) == 0.0
    U[RHO, G - 1, G, G] = 2.0                      # a face ghost is
    assert criteria.gradient_refine(U, RHO, 0.2)
    assert criteria.density_floor_refine(U, 0, 0.5)
    assert not criteria.density_floor_refine(U, 2, 0.5, level_factor=10.0)


def test_pulse_moves_and_refinement_follows():
    pulse = get_problem("pulse")
    n = 8
    x = (np.arange(n) + 0.5) / n - 0.5
    P = {"x_c": -0.25, "width": 0.1, "period": 1.0}
    U = block(n)
    pulse.init_data(U, x, x, x, P, 5 / 3)
    rho0 = pulse.exact(x, x, x, 0.0, P, 5 / 3)[0]
    rho1 = pulse.exact(x, x, x, 0.5, P, 5 / 3)[0]
    assert np.allclose(U[RHO, G:-G, G:-G, G:-G], rho0)
    assert np.allclose(rho1, np.roll(rho0, n // 2, axis=0))
    left = block(n)
    Q = dict(P, period=0.0)
    pulse.init_data(left, x + 1.0, x, x, Q, 5 / 3)  # a block one box away has no pulse
    fill_all(U, BC_OUTFLOW)
    fill_all(left, BC_OUTFLOW)
    assert pulse.refine(U, 0, 1 / n, P) and not pulse.refine(left, 0, 1 / n, Q)


def test_sound_wave_exact_is_translation():
    sw = get_problem("sound_wave")
    x = np.linspace(0, 1, 17)[:-1]
    a = sw.exact(x, [0.0], [0.0], 0.25, {"amplitude": 1e-3}, 5 / 3)
    b = sw.exact(x - 0.25, [0.0], [0.0], 0.0, {"amplitude": 1e-3}, 5 / 3)
    assert all(np.allclose(u, v) for u, v in zip(a, b))
