"""Rotating star (single polytrope in rigid rotation): its spin and symmetry at the start."""

import math
import os

import numpy as np
import pytest

from octosim.config import load_config
from octosim.driver import Simulation
from octosim.problems import polytrope, rotating_star
from octosim.problems.lane_emden import lane_emden

INPUT = os.path.join(os.path.dirname(__file__), "..", "..", "inputs", "rotating_star.yaml")


def test_rotating_star_spins_rigidly_with_zero_momentum():
    cfg = load_config(INPUT, ["mesh.max_level=1", "mesh.subgrid_size=8",
                                                    "gravity.enable=false"])
    sim = Simulation(cfg)
    t = sim.leaf_table()
    dv = t["dx"] ** 3
    om = rotating_star.angular_velocity({})
    M = polytrope.mass({"n": 1.5, "radius": 0.5})
    assert om == pytest.approx(0.2 * math.sqrt(M / 0.125), rel=1e-14)
    for a in ("sx", "sy", "sz"):                      # mirror-symmetric: cancels exactly
        assert abs(math.fsum(t[a] * dv)) <= 1e-15 * math.fsum(np.abs(t[a]) * dv)
    Lz = math.fsum((t["x"] * t["sy"] - t["y"] * t["sx"]) * dv)
    # I_z = 2/3 of the 4 pi int rho r^4 dr of the Lane-Emden profile
    le, alpha, _ = polytrope.structure({"n": 1.5, "radius": 0.5})
    xi = np.linspace(0.0, le.xi1, 20001)
    f = le.theta(xi) ** 1.5 * xi ** 4
    Iz = 2.0 / 3.0 * 4 * np.pi * alpha ** 5 * np.sum((f[1:] + f[:-1]) / 2 * np.diff(xi))
    assert Lz == pytest.approx(om * Iz, rel=0.05)
    inside = np.sqrt(t["x"] ** 2 + t["y"] ** 2 + t["z"] ** 2) < 0.45
    v = np.stack([t["sx"], t["sy"]]) / t["rho"]
    assert np.allclose(v[0][inside], -om * t["y"][inside], rtol=1e-12, atol=1e-14)
    assert np.allclose(v[1][inside], om * t["x"][inside], rtol=1e-12, atol=1e-14)
    assert lane_emden(1.5).xi1 == pytest.approx(3.65375, abs=2e-5)
