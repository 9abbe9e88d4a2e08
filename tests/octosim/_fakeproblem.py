"""A stand-in problem for config tests: a PARAMS table like the real problem modules."""

from octosim import config

PARAMS = {
    "rho_l": (float, 1.0, (0.0, None), "left density"),
    "direction": (str, "x", ("x", "y", "z"), "normal"),
    "nzones": (int, 4, (1, 64), "an integer parameter"),
    "G": (float, 1.0, (0.0, None), "gravitational constant of the setup"),
}


def install(monkeypatch, names=("fake",)):
    """Make ``config`` see one problem per name in ``names``, each with PARAMS above."""
    def problem_params(name):
        if name not in names:
            raise config.ConfigError(f"problem.name = {name!r} is not a known problem")
        return {k: config._param_from_spec(v) for k, v in PARAMS.items()}
    monkeypatch.setattr(config, "problem_params", problem_params)
    monkeypatch.setattr(config, "_problem_names", lambda: sorted(names))
