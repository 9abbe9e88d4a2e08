"""Well-balanced reconstruction (octosim.hydro.wellbalanced): discrete equilibria stay at rest."""

import numpy as np
import pytest

from octosim import cli
from octosim.config import ConfigError
from octosim.driver import Simulation

from octosim.fields import EGAS, GHOST, RHO, SX, TAU
from octosim.gravity import gravity_source
from octosim.hydro import RECON_PLM, RECON_PPM, RECON_PPM_EP, compute_fluxes, rk_stage_src
from octosim.hydro.fluxes import make_work
from octosim.hydro.wellbalanced import (FACE_EXTRAPOLATE, FACE_MIRROR, compute_fluxes_wb_work,
                                        extend_potential, make_wb_work)

N, NF, DX = 8, 7, 0.1


def _centres():
    x = (np.arange(N + 2 * GHOST) - GHOST + 0.5) * DX - 0.2
    return np.meshgrid(x, x + 0.03, x - 0.07, indexing="ij")


def _point_mass(X, Y, Z):
    """Return phi and g = -grad phi of a softened point mass off the block's corner."""
    x, y, z = X + 0.6, Y + 0.5, Z + 0.4
    r2 = x * x + y * y + z * z + 0.01
    phi = -1.0 / np.sqrt(r2)
    return phi, -np.array([x, y, z]) / r2 ** 1.5


def _atmosphere(gamma, K=0.3):
    """Return U (ghosts included), phi on all cells, interior g: h + phi = H, p = K rho^gamma."""
    X, Y, Z = _centres()
    phi, g = _point_mass(X, Y, Z)
    h = phi.max() + 0.2 - phi                  # 0.2 to ~4: a few cells' scale height
    rho = ((gamma - 1.0) / gamma * h / K) ** (1.0 / (gamma - 1.0))
    p = K * rho ** gamma
    U = np.zeros((NF,) + X.shape)
    U[RHO] = rho
    U[EGAS] = p / (gamma - 1.0)
    U[TAU] = U[EGAS] ** (1.0 / gamma)
    U[TAU + 1] = 0.3 * rho
    I = (slice(GHOST, GHOST + N),) * 3
    return U, phi, np.ascontiguousarray(g[(slice(None),) + I])


def _step(U, phi, g, gamma, recon, wb):
    """Return U's interior after one SSP-RK3 step with the gravity source (ghosts held)."""
    I = (slice(None),) + (slice(GHOST, GHOST + N),) * 3
    F = (np.zeros((NF, N + 1, N, N)), np.zeros((NF, N, N + 1, N)), np.zeros((NF, N, N, N + 1)))
    c = np.sqrt(gamma * (gamma - 1.0) * U[EGAS] / U[RHO]).max()
    dt = 0.4 * DX / c
    V = U.copy()
    for a in (0.0, 0.75, 1.0 / 3.0):
        if wb:
            Sm = np.zeros((3, N, N, N))
            compute_fluxes_wb_work(V, phi, g, DX, gamma, recon, 1e-3, *F, Sm, make_work(U),
                                   make_wb_work(U))
        else:
            compute_fluxes(V, gamma, recon, 1e-3, *F)
        S = gravity_source(V, phi[I[1:]], g, fluxes=F, dx=DX)
        if wb:
            S[SX:SX + 3] = Sm
        rk_stage_src(V, U, *F, S, dt, DX, a)
    return V[I], c


@pytest.mark.parametrize("gamma", [5.0 / 3.0, 2.0])
@pytest.mark.parametrize("recon", [RECON_PPM, RECON_PLM, RECON_PPM_EP])
def test_isentropic_atmosphere_in_a_point_mass_potential_stays_at_rest(gamma, recon):
    """h + phi and K constant cell by cell: one step changes rho and momentum by round-off."""
    U, phi, g = _atmosphere(gamma)
    I = (slice(None),) + (slice(GHOST, GHOST + N),) * 3
    U0 = U[I]
    res = {}
    for wb in (True, False):
        V, c = _step(U, phi, g, gamma, recon, wb)
        res[wb] = (np.abs(V[RHO] / U0[RHO] - 1.0).max(),
                   np.abs(V[SX:SX + 3] / (U0[RHO] * c)).max(),
                   np.abs(V[EGAS] / U0[EGAS] - 1.0).max())
    # measured: rho 2e-16, momentum 4e-17 rho c_s, egas 4e-16; the ordinary scheme 8e-6 to
    # 1e-3 (rho), 4e-5 to 3e-4 (momentum)
    assert max(res[True]) <= 1e-12, res
    assert res[False][0] > 1e-6 and res[False][1] > 1e-6, res


def test_extended_potential_is_exact_for_quadratic_and_mirrors_at_walls():
    rng = np.random.default_rng(3)
    X, Y, Z = _centres()
    A = rng.normal(size=(3, 3))
    A = A + A.T
    b = rng.normal(size=3)
    R = np.array([X, Y, Z])
    phi = np.einsum("i...,ij,j...->...", R, A, R) + np.einsum("i,i...->...", b, R)
    g = -(2 * np.einsum("ij,j...->i...", A, R) + b[:, None, None, None])
    I = (slice(GHOST, GHOST + N),) * 3
    E = np.zeros_like(phi)
    faces = np.full(6, FACE_EXTRAPOLATE, dtype=np.int64)
    extend_potential(E, phi[I].copy(), np.ascontiguousarray(g[(slice(None),) + I]), DX, faces,
                     np.zeros((0, N, N, N)))
    inner = slice(GHOST, GHOST + N)
    for a in range(3):
        sl = [inner] * 3
        sl[a] = slice(None)
        assert np.allclose(E[tuple(sl)], phi[tuple(sl)], rtol=0, atol=1e-12), a
    faces[1] = FACE_MIRROR                     # high x wall
    faces[2] = 0                               # low y: copy block 0 of nbphi
    nb = rng.normal(size=(1, N, N, N))
    extend_potential(E, phi[I].copy(), np.ascontiguousarray(g[(slice(None),) + I]), DX, faces,
                     nb)
    for s in range(1, GHOST + 1):
        assert np.array_equal(E[GHOST + N - 1 + s, inner, inner], phi[GHOST + N - s, inner, inner])
        assert np.array_equal(E[inner, GHOST - s, inner], nb[0, :, N - s, :])


GRAVITY_WB = "gravity: {enable: true, well_balanced: true}\n"


def test_well_balanced_on_several_localities_is_a_config_error(tmp_path, monkeypatch, capsys):
    """The option needs gravity before the fluxes: one line, exit 2, on more than one locality."""
    from tests.octosim._fakeproblem import install
    install(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "_world", lambda rt=None: (0, 2))
    (tmp_path / "in.yaml").write_text("problem: {name: fake}\ntime: {stop_step: 1}\n"
                                      "output: {dir: out}\n" + GRAVITY_WB)
    assert cli.main(["in.yaml"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gravity.well_balanced" in err, err
    assert not (tmp_path / "out").exists()

    class TwoLocalities(Simulation):
        nloc = 2
    cfg = {"problem": {"name": "polytrope"}, "mesh": {"max_level": 0},
           "gravity": {"enable": True, "well_balanced": True}}
    with pytest.raises(ConfigError, match="gravity.well_balanced"):
        TwoLocalities(cfg)


def test_well_balanced_polytrope_conserves_mass_and_differs_from_the_default():
    """Levels 2 and 3, regrids, reflecting walls: mass to round-off; option off is the old path."""
    cfg = {"mesh": {"xscale": 0.75, "subgrid_size": 4, "max_level": 3, "regrid_every": 2,
                    "boundary": "reflect"},
           "hydro": {"gamma": 2.0, "rho_floor": 1e-9}, "problem": {"name": "polytrope"},
           "polytrope": {"n": 1.0, "radius": 0.5, "rho_atm": 1e-5, "refine_rho": 0.2},
           "gravity": {"enable": True, "G": 1.0, "theta": 0.5, "order": 3}}
    out = {}
    for wb in (False, True):
        cfg["gravity"]["well_balanced"] = wb
        sim = Simulation(cfg)
        assert [lv["leaves"] for lv in sim.level_stats()] == [0, 0, 56, 64]
        m0 = sim.conserved_totals()["mass"]
        for _ in range(3):
            sim.advance()
        out[wb] = sim.leaf_table()
        assert abs(sim.conserved_totals()["mass"] / m0 - 1.0) < 1e-14
    assert not np.array_equal(out[False]["rho"], out[True]["rho"])
