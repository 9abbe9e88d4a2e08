"""FMM on the uniform sphere against its analytic potential (problems.uniform_sphere)."""

import numpy as np
import pytest

from octosim.gravity import direct_desc, potential_energy, solve_desc
from octosim.gravity.setup import problem_tree
from octosim.problems import uniform_sphere as us


def _sphere(radius, max_level, min_level):
    params = {"radius": radius, "rho_out": 0.0, "refine_on": "surface", "subsample": 4}
    desc, rho = problem_tree(us, params, N=4, max_level=max_level, min_level=min_level)
    lv = desc.leaves()
    X = np.zeros((desc.nnode, 3, 4, 4, 4))
    for n in lv:
        X[n] = np.array(np.meshgrid(*desc.cell_centers(n), indexing="ij"))
    exact = us.exact_potential(X[:, 0], X[:, 1], X[:, 2], params)
    r = np.sqrt((X ** 2).sum(axis=1))
    return desc, rho, params, exact, r


def _rel(desc, phi, exact, r, R):
    lv = desc.leaf
    e = np.abs(phi[lv] - exact[0][lv]) / np.abs(exact[0][lv])
    return e[r[lv] < R].max(), e[r[lv] > R].max()


@pytest.fixture(scope="module")
def fine_sphere():
    """R = 0.7 with the surface on level 4 (R = 22 cells), the inside on level 2."""
    desc, rho, params, exact, r = _sphere(0.7, 4, 2)
    stats = {}
    phi, g = solve_desc(desc, rho, theta=0.5, stats=stats)
    return desc, rho, params, exact, r, phi, g, stats


def test_sphere_potential_inside_and_outside(fine_sphere):
    desc, rho, params, exact, r, phi, g, _ = fine_sphere
    assert len(set(desc.level[desc.leaf])) == 3
    e_in, e_out = _rel(desc, phi, exact, r, 0.7)
    assert e_in <= 1e-3 and e_out <= 1e-3, (e_in, e_out)


def test_sphere_potential_energy_and_momentum(fine_sphere):
    desc, rho, params, exact, r, phi, g, _ = fine_sphere
    G, R = 1.0, 0.7
    M = 4.0 / 3.0 * np.pi * R ** 3
    W = sum(potential_energy(rho[n], phi[n], desc.dx(desc.level[n])) for n in desc.leaves())
    assert W == pytest.approx(-0.6 * G * M * M / R, rel=1e-3)
    m = rho * np.array([desc.dx(L) ** 3 for L in desc.level])[:, None, None, None]
    f = m[desc.leaf][:, None] * g[desc.leaf]
    assert np.all(np.abs(f.sum(axis=(0, 2, 3, 4))) <= 1e-13 * np.abs(f).sum())


def test_sphere_error_shrinks_with_theta():
    R = 0.6
    desc, rho, params, exact, r = _sphere(R, 3, 1)
    P, _ = direct_desc(desc, rho)
    lv = desc.leaf
    fmm_err, ana_err = [], []
    for theta in (0.8, 0.5, 0.3):
        phi, _ = solve_desc(desc, rho, theta=theta)
        fmm_err.append(np.abs(phi[lv] - P[lv]).max() / np.abs(P[lv]).max())
        ana_err.append(max(_rel(desc, phi, exact, r, R)))
    assert fmm_err[0] > 2 * fmm_err[1] > 4 * fmm_err[2], fmm_err
    # what is left is the discretisation (cells as point masses), the same at every theta
    d_in, d_out = _rel(desc, P, exact, r, R)
    assert ana_err[0] >= ana_err[1] >= ana_err[2] >= 0.999 * max(d_in, d_out), ana_err
