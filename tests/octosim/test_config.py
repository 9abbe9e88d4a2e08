"""Config schema: defaults, types, ranges, overrides, one-line errors, YAML round trip."""

import pytest

from octosim import config
from octosim.config import ConfigError, config_from_text, dump_config, load_config

from tests.octosim._fakeproblem import install

BASE = "problem: {name: fake}\ntime: {stop_time: 0.2}\n"


@pytest.fixture(autouse=True)
def fake_problem(monkeypatch):
    install(monkeypatch, ("fake", "other"))


def err(text, sets=(), source="in.yaml"):
    with pytest.raises(ConfigError) as ei:
        config_from_text(text, source, sets)
    msg = str(ei.value)
    assert "\n" not in msg
    return msg


def test_defaults_filled_and_typed():
    cfg = config_from_text(BASE + "hydro: {cfl: 1}\nmesh: {boundary: periodic}\n")
    assert cfg["hydro"]["cfl"] == 1.0 and isinstance(cfg["hydro"]["cfl"], float)
    assert cfg["hydro"]["gamma"] == pytest.approx(5 / 3)
    assert cfg["mesh"]["subgrid_size"] == 8
    assert cfg["mesh"]["boundary"] == ["periodic"] * 3
    assert cfg["fake"] == {"rho_l": 1.0, "direction": "x", "nzones": 4, "G": 1.0}
    assert set(cfg) == set(config.SCHEMA) | {"fake"}
    assert cfg["gravity"]["theta"] == 0.5 and cfg["runtime"]["zero_copy_threshold"] == 4096


def test_yaml12_scalars():
    cfg = config_from_text(BASE + "hydro: {rho_floor: 1e-10}\nfake: {rho_l: 2E3}\n")
    assert cfg["hydro"]["rho_floor"] == 1e-10 and cfg["fake"]["rho_l"] == 2000.0
    assert "gravity.enable" in err(BASE + "gravity: {enable: yes}")


def test_round_trip():
    cfg = config_from_text(BASE + "mesh: {boundary: [outflow, reflect, periodic]}\n"
                           "refinement: {density_floor: [1e-3, 1e-2]}\nfake: {rho_l: 0.3}\n")
    assert config_from_text(dump_config(cfg)) == cfg


@pytest.mark.parametrize("text,sets,needle", [
    (BASE + "hydro: {cfl: 1.5}", (), "in.yaml: hydro.cfl = 1.5 out of range (0, 1]"),
    (BASE + "hydro: {cfll: 0.5}", (), "unknown key hydro.cfll (did you mean hydro.cfl?)"),
    (BASE + "hydro: {cfl: fast}", (), "hydro.cfl = 'fast' has wrong type str"),
    (BASE + "mesh: {subgrid_size: 5}", (), "mesh.subgrid_size = 5 must be even"),
    (BASE + "mesh: {max_level: 1.5}", (), "mesh.max_level = 1.5 has wrong type float"),
    (BASE + "mesh: {boundary: wall}", (), "mesh.boundary = 'wall'"),
    (BASE + "fake: {rho_l: -1}", (), "fake.rho_l = -1 out of range"),
    (BASE + "fake: {direction: w}", (), "fake.direction = 'w' not one of x, y, z"),
    (BASE + "fake: {bogus: 1}", (), "unknown key fake.bogus"),
    (BASE + "other: {}", (), "unknown section other"),
    (BASE + "hydr: {}", (), "unknown section hydr (did you mean hydro?)"),
    (BASE + "time: {}", (), "duplicate key 'time'"),
    ("problem: {name: nope}\ntime: {stop_time: 1}", (), "problem.name = 'nope'"),
    ("time: {stop_time: 1}", (), "problem.name is required"),
    ("problem: {name: fake}", (), "set time.stop_time or time.stop_step"),
    ("problem: [", (), "in.yaml: invalid YAML"),
    ("- 1", (), "expected a mapping of sections"),
    (BASE, ["hydro.cfl=2"], "--set hydro.cfl=2: hydro.cfl = 2 out of range"),
    (BASE, ["hydro.cfl"], "--set hydro.cfl: expected section.key=value"),
    (BASE, ["cfl=0.3"], "expected section.key=value"),
    (BASE, ["hydro.nope=1"], "--set hydro.nope=1: unknown key hydro.nope"),
    (BASE, ["runtime.parcelport=tcp"], "runtime.parcelport = 'tcp' not one of"),
    (BASE + "gravity: {enable: true, G: 2}", (), "fake.G = 1.0 differs from gravity.G = 2.0"),
])
def test_errors_name_the_key(text, sets, needle):
    assert needle in err(text, sets)


def test_set_overrides_file_and_parses_scalars():
    cfg = config_from_text(BASE + "hydro: {cfl: 0.4}", "in.yaml",
                           ["hydro.cfl=0.25", "fake.nzones=7", "time.stop_step=3",
                            "mesh.boundary=[periodic, outflow, reflect]", "gravity.enable=true"])
    assert cfg["hydro"]["cfl"] == 0.25 and cfg["fake"]["nzones"] == 7
    assert cfg["time"] == {"stop_time": 0.2, "stop_step": 3}
    assert cfg["mesh"]["boundary"] == ["periodic", "outflow", "reflect"]
    assert cfg["gravity"]["enable"] is True


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    p = tmp_path / "ok.yaml"
    p.write_text(BASE)
    assert load_config(p)["problem"]["name"] == "fake"


def test_schema_table_covers_every_key():
    table = config.schema_table()
    for section, keys in config.SCHEMA.items():
        for key in keys:
            assert f"`{section}.{key}`" in table


def test_gamma_defaults_to_the_problems(monkeypatch):
    import types
    import octosim.problems
    monkeypatch.setattr(octosim.problems, "get_problem",
                        lambda name: types.SimpleNamespace(DEFAULT_GAMMA=1.4, PARAMS={}),
                        raising=False)
    assert config_from_text(BASE)["hydro"]["gamma"] == 1.4
    assert config_from_text(BASE + "hydro: {gamma: 1.2}")["hydro"]["gamma"] == 1.2


def test_readme_schema_table_is_current():
    import os
    readme = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
    with open(readme, encoding="utf-8") as fh:
        assert config.schema_table() in fh.read(), "regenerate the README table: schema_table()"
