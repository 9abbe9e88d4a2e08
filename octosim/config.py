"""Load, validate and dump octosim run configurations.

A configuration is a YAML mapping of sections to mappings of keys.  ``load_config`` turns it
into a plain nested dict in which every key of every section is present with its declared
type (defaults filled in), plus one section named after the chosen problem, validated against
that problem module's ``PARAMS``.  Unknown sections or keys, wrong types and values out of
range raise :class:`ConfigError`, whose message is one line naming the source and the key::

    inputs/sod.yaml: hydro.cfl = 1.5 out of range (0, 1]

Scalars follow YAML 1.2 core rules (``1e-3`` is a float, only ``true``/``false`` are
booleans, ``~``/``null`` is null), both in files and in ``--set section.key=value``.
"""

import difflib
import math
import os
import re

import yaml

from octosim.tree import CURVES

__all__ = ["ConfigError", "Param", "SCHEMA", "load_config", "config_from_text", "validate",
           "parse_set", "parse_scalar", "dump_config", "problem_params", "schema_table"]

_INF = math.inf


class ConfigError(ValueError):
    """A user error in a configuration; ``str()`` is one line naming the source and key."""


class Param:
    """One configuration key: its type, default, allowed range or choices, and meaning.

    ``kind`` is one of ``float``, ``int``, ``bool``, ``str``, ``boundary``.  ``lo``/``hi``
    bound numbers (``None`` = unbounded; ``lo_open``/``hi_open`` exclude the bound);
    ``choices`` restricts strings; ``nullable`` allows ``null``; ``even`` requires an even int.
    """

    __slots__ = ("kind", "default", "lo", "hi", "lo_open", "hi_open", "choices", "nullable",
                 "even", "doc", "per_level")

    def __init__(self, kind, default, doc, lo=None, hi=None, lo_open=False, hi_open=False,
                 choices=None, nullable=False, even=False, per_level=False):
        self.kind, self.default, self.doc, self.per_level = kind, default, doc, per_level
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open
        self.choices, self.nullable, self.even = choices, nullable, even

    def range_text(self):
        """Return the allowed values as text, e.g. ``(0, 1]`` or ``one of ppm, plm``."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.lo is None and self.hi is None:
            return ""
        lo = "-inf" if self.lo is None else _fmt(self.lo)
        hi = "inf" if self.hi is None else _fmt(self.hi)
        left = "(" if (self.lo_open or self.lo is None) else "["
        right = ")" if (self.hi_open or self.hi is None) else "]"
        return f"{left}{lo}, {hi}{right}"


BOUNDARIES = ("outflow", "reflect", "periodic")

SCHEMA = {
    "mesh": {
        "xscale": Param("float", 1.0, "half-width of the cubic domain [-xscale, xscale]^3",
                        lo=0.0, lo_open=True),
        "subgrid_size": Param("int", 8, "cells per subgrid edge N (even)", lo=2, hi=128,
                              even=True),
        "max_level": Param("int", 2, "deepest refinement level (root = 0)", lo=0, hi=20),
        "regrid_every": Param("int", 4, "steps between regrids (0 = never regrid)", lo=0),
        "balance": Param("str", "work", "how localities split the Morton curve: equal FMM "
                         "work (with gravity), then corrected by measured solve times (time), "
                         "or equal leaf counts", choices=("work", "time", "leaves")),
        "curve": Param("str", "auto", "bit order of the Morton curve along which localities "
                       "take their shares, axes from most to least significant (zyx: x "
                       "fastest); auto puts first the axis along which the initial finest "
                       "leaves extend furthest", choices=("auto",) + CURVES),
        "boundary": Param("boundary", ["outflow"] * 3,
                          "outflow|reflect|periodic, or one per axis x, y, z as a "
                          "list of three or a mapping {x: .., y: .., z: ..}"),
    },
    "hydro": {
        "gamma": Param("float", None, "adiabatic index; left out: the problem's DEFAULT_GAMMA "
                       "(5/3 if it has none)", lo=1.0, lo_open=True, nullable=True),
        "cfl": Param("float", 0.4, "Courant number", lo=0.0, hi=1.0, lo_open=True),
        "reconstruction": Param("str", "ppm", "face reconstruction (ppm_ep: smooth extrema "
                                "kept, Colella & Sekora 2008)",
                                choices=("ppm", "plm", "ppm_ep", "plm_minmod")),
        "dual_energy_switch": Param("float", 1e-3, "internal/total energy ratio below which "
                                    "the entropy tracer sets the internal energy",
                                    lo=0.0, hi=1.0),
        "rho_floor": Param("float", 1e-12, "density floor", lo=0.0),
        "e_floor": Param("float", 1e-14, "internal energy density floor", lo=0.0),
    },
    "problem": {
        "name": Param("str", None, "initial condition: a module of octosim.problems"),
    },
    "refinement": {
        "criterion": Param("str", "none", "generic test that marks a leaf for refinement, "
                           "or'ed with the problem's own",
                           choices=("gradient", "density", "both", "none")),
        "use_problem": Param("bool", True, "also ask the problem module's refine()"),
        "density_floor": Param("float", 1e-3, "refine where rho exceeds this (density, both); "
                               "a list gives one value per level", lo=0.0, per_level=True),
        "gradient_threshold": Param("float", 0.1, "refine where the relative jump of rho or "
                                    "p between neighbours exceeds this (gradient, both)",
                                    lo=0.0, lo_open=True),
    },
    "time": {
        "stop_time": Param("float", None, "simulated time to stop at (code units)", lo=0.0,
                           nullable=True),
        "stop_step": Param("int", None, "step to stop at", lo=0, nullable=True),
    },
    "output": {
        "dir": Param("str", "output", "directory of snapshots, checkpoints, parameters"),
        "every": Param("int", 0, "steps between snapshots (0 = none by step count)", lo=0),
        "dt": Param("float", None, "simulated time between snapshots (null = none by time)",
                    lo=0.0, lo_open=True, nullable=True),
        "checkpoint_every": Param("int", 0, "steps between checkpoints (0 = none)", lo=0),
        "format": Param("str", "hdf5", "snapshot format; xdmf adds an .xdmf beside each .h5",
                        choices=("hdf5", "xdmf")),
        "progress_every": Param("int", 10, "steps between progress lines when not on a "
                                "terminal", lo=1),
    },
    "gravity": {
        "enable": Param("bool", False, "self-gravity by the fast multipole method"),
        "theta": Param("float", 0.5, "FMM opening criterion", lo=0.0, hi=1.0, lo_open=True),
        "order": Param("int", 3, "expansion order p (multipoles and Taylor expansions "
                       "through p; 3 gives second-order forces, as Octo-Tiger)", lo=0, hi=4),
        "angmom": Param("bool", False, "gravity exerts no net torque, to round-off (each "
                        "M2L pair's is cancelled); the hydro scheme still changes angular "
                        "momentum by its truncation error"),
        "G": Param("float", 1.0, "gravitational constant in code units", lo=0.0,
                   lo_open=True),
        "steal": Param("float", 0.15, "work stealing in the FMM on several localities: "
                       "the fraction of each locality's leaves (the end of its share, in up "
                       "to 4 chunks) that other localities, done with their own, may solve "
                       "for it; 0: off", lo=0.0, hi=0.5),
        "well_balanced": Param("bool", False, "hydrostatic (well-balanced) reconstruction of "
                               "rho and p about each cell's isentropic equilibrium in phi, "
                               "with the matching momentum source (Kaeppeli & Mishra 2016): "
                               "a discrete isentropic equilibrium stays at rest to "
                               "round-off, but total momentum is no longer conserved to "
                               "round-off; one locality only (more is a config error)"),
    },
    "runtime": {
        "parcelport": Param("str", "auto", "auto (local on one locality, mpi on several), "
                            "local, mpi or rma", choices=("auto", "local", "mpi", "rma")),
        "threads": Param("int", 1, "worker threads per locality", lo=1, hi=1024),
        "zero_copy_threshold": Param("int", 4096, "bytes from which an array travels as a "
                                     "pointer chunk", lo=0),
    },
    "units": {
        "length": Param("float", 1.0, "one code length unit in cm", lo=0.0, lo_open=True),
        "mass": Param("float", 1.0, "one code mass unit in g", lo=0.0, lo_open=True),
        "time": Param("float", 1.0, "one code time unit in s", lo=0.0, lo_open=True),
    },
}


# ---------------------------------------------------------------------------- YAML scalars

class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core booleans and floats (``1e-3`` is a float)."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in lst if tag not in ("tag:yaml.org,2002:bool",
                                                     "tag:yaml.org,2002:float")]
    for ch, lst in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                |[-+]?\.(?:inf|Inf|INF)
                |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _construct_mapping(loader, node, deep=False):
    """Build a mapping, rejecting duplicate keys (a silent overwrite loses a setting)."""
    loader.flatten_mapping(node)
    out = {}
    for knode, vnode in node.value:
        key = loader.construct_object(knode, deep=deep)
        if key in out:
            raise ConfigError(f"duplicate key '{key}' (line {knode.start_mark.line + 1})")
        out[key] = loader.construct_object(vnode, deep=deep)
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_load(text):
    return yaml.load(text, Loader=_Loader)


def parse_scalar(text):
    """Parse ``text`` as one YAML scalar (or flow list), e.g. ``0.3``, ``1e-3``, ``[a, b]``."""
    try:
        value = _yaml_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse value {text!r}: {_yaml_reason(exc)}") from None
    if isinstance(value, dict):
        raise ConfigError(f"value {text!r} is a mapping; give one scalar or a list")
    return value


def parse_set(text):
    """Split ``section.key=value`` into ``(section, key, value)`` with YAML scalar rules."""
    name, sep, raw = text.partition("=")
    parts = name.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise ConfigError(f"--set {text}: expected section.key=value")
    return parts[0], parts[1], parse_scalar(raw.strip())


def _yaml_reason(exc):
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{problem}{where}"


# ---------------------------------------------------------------------------- validation

def _fmt(v):
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v) if isinstance(v, str) else str(v)


def _show(v):
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return str(v)


_TYPE_WORDS = {"float": "a number", "int": "an integer", "bool": "true or false",
               "str": "a string", "boundary": "outflow|reflect|periodic or a list of three"}


def _check(path, p, v):
    """Return ``v`` converted to the type of ``p``, or raise ConfigError (message w/o source)."""
    if p.per_level and isinstance(v, list):
        if not v:
            raise ConfigError(f"{path} = [] must list at least one value")
        return [_check(f"{path}[{i}]", p, x) for i, x in enumerate(v)]
    if v is None:
        if p.nullable:
            return None
        if p.default is None and p.kind == "str":
            raise ConfigError(f"{path} is required")
        raise ConfigError(f"{path} = null but must be {_TYPE_WORDS[p.kind]}")
    bad_type = ConfigError(f"{path} = {_show(v)} has wrong type {type(v).__name__}, "
                           f"expected {_TYPE_WORDS[p.kind]}")
    if p.kind == "boundary":
        if isinstance(v, str):
            v = [v] * 3
        elif isinstance(v, dict) and set(v) <= {"x", "y", "z"}:
            v = [v.get(a, "outflow") for a in "xyz"]
        if not isinstance(v, list) or len(v) != 3 or not all(isinstance(b, str) for b in v):
            raise bad_type
        for b in v:
            if b not in BOUNDARIES:
                raise ConfigError(f"{path} = {_show(b)} not one of " + ", ".join(BOUNDARIES))
        return list(v)
    if p.kind == "bool":
        if not isinstance(v, bool):
            raise bad_type
        return v
    if p.kind == "str":
        if not isinstance(v, str):
            raise bad_type
        if p.choices and v not in p.choices:
            raise ConfigError(f"{path} = {_show(v)} not {p.range_text()}")
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise bad_type
    given = v
    if p.kind == "int":
        if isinstance(v, float):
            if not v.is_integer():
                raise bad_type
            v = int(v)
    else:
        v = float(v)
        if not math.isfinite(v):
            raise ConfigError(f"{path} = {v} must be finite")
    lo_bad = p.lo is not None and (v < p.lo or (p.lo_open and v == p.lo))
    hi_bad = p.hi is not None and (v > p.hi or (p.hi_open and v == p.hi))
    if lo_bad or hi_bad:
        raise ConfigError(f"{path} = {_show(given)} out of range {p.range_text()}")
    if p.even and v % 2:
        raise ConfigError(f"{path} = {v} must be even")
    return v


def _unknown(path, key, known):
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {path}{close[0]}?)" if close else ""
    return ConfigError(f"unknown key {path}{key}{hint}")


def _param_from_spec(spec):
    """Turn a problem's ``(type, default, (lo, hi) or None, doc)`` into a Param."""
    typ, default, rng, doc = spec
    kind = {float: "float", int: "int", bool: "bool", str: "str"}.get(typ, typ)
    if kind not in _TYPE_WORDS:
        raise AssertionError(f"problem PARAMS type {typ!r} not supported by octosim.config")
    choices = lo = hi = None
    if rng is not None:
        if kind == "str":
            choices = tuple(rng)
        else:
            lo, hi = rng
    return Param(kind, default, doc, lo=lo, hi=hi, choices=choices,
                 nullable=default is None)


def problem_params(name):
    """Return ``{key: Param}`` for problem ``name``; ConfigError if there is no such problem."""
    try:
        from octosim import problems
    except ImportError:
        problems = None
    mod = None
    if problems is not None and hasattr(problems, "get_problem"):
        try:
            mod = problems.get_problem(name)
        except (KeyError, ValueError):
            mod = None
        except ImportError as exc:
            raise ConfigError(f"problem.name = {name!r}: its module does not import "
                              f"({type(exc).__name__}: {exc})") from None
    if mod is None:
        known = _problem_names()
        hint = f" (available: {', '.join(known)})" if known else ""
        raise ConfigError(f"problem.name = {name!r} is not a known problem{hint}")
    return {k: _param_from_spec(v) for k, v in getattr(mod, "PARAMS", {}).items()}


def problem_gamma(name):
    """Return the problem's ``DEFAULT_GAMMA`` (5/3 when it has none)."""
    try:
        from octosim.problems import get_problem
        return float(getattr(get_problem(name), "DEFAULT_GAMMA", 5.0 / 3.0))
    except Exception:  # noqa: BLE001 - a missing registry or problem was reported already
        return 5.0 / 3.0


def _problem_names():
    try:
        from octosim import problems
    except ImportError:
        return []
    for attr in ("available", "names", "list_problems"):
        fn = getattr(problems, attr, None)
        if callable(fn):
            try:
                return sorted(fn())
            except Exception:  # a registry helper we do not own; fall back to the package
                break
    reg = getattr(problems, "PROBLEMS", None) or getattr(problems, "REGISTRY", None)
    if isinstance(reg, dict):
        return sorted(reg)
    import pkgutil
    return sorted(m.name for m in pkgutil.iter_modules(problems.__path__)
                  if not m.name.startswith("_"))


def _validate_section(section, schema, given, origin):
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise _at(origin, (section,), ConfigError(
            f"{section} must be a mapping of keys, not {type(given).__name__}"))
    out = {}
    for key in given:
        if key not in schema:
            raise _at(origin, (section, key), _unknown(f"{section}.", str(key), list(schema)))
    for key, p in schema.items():
        v = given.get(key, p.default)
        try:
            out[key] = _check(f"{section}.{key}", p, list(v) if isinstance(v, tuple) else v)
        except ConfigError as exc:
            raise _at(origin, (section, key), exc) from None
    return out


def _at(origin, path, exc):
    """Prefix ``exc`` with where the offending value came from."""
    src = origin.get(path) or origin.get(path[:1]) or origin.get(())
    return ConfigError(f"{src}: {exc}") if src else exc


def validate(raw, origin=None):
    """Return the validated, typed, defaults-filled config from the mapping ``raw``.

    ``origin`` maps ``()``, ``(section,)`` or ``(section, key)`` to the text naming where the
    value came from (a file name, ``--set hydro.cfl=1.5``); it prefixes error messages.
    """
    origin = origin or {}
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _at(origin, (), ConfigError(
            f"expected a mapping of sections, got {type(raw).__name__}"))
    prob = raw.get("problem")
    cfg = {}
    cfg["problem"] = _validate_section("problem", SCHEMA["problem"], prob, origin)
    name = cfg["problem"]["name"]
    try:
        pschema = problem_params(name)
    except ConfigError as exc:
        raise _at(origin, ("problem", "name"), exc) from None
    known = list(SCHEMA) + [name]
    for section in raw:
        if section not in known:
            close = difflib.get_close_matches(str(section), known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            if section in _problem_names_safe():
                hint = f" (parameters of problem {section}, but problem.name = {name})"
            raise _at(origin, (section,), ConfigError(f"unknown section {section}{hint}"))
    for section, schema in SCHEMA.items():
        if section != "problem":
            cfg[section] = _validate_section(section, schema, raw.get(section), origin)
    cfg[name] = _validate_section(name, pschema, raw.get(name), origin)
    if cfg["hydro"]["gamma"] is None:
        cfg["hydro"]["gamma"] = problem_gamma(name)
    g_prob = cfg[name].get("G")
    if cfg["gravity"]["enable"] and isinstance(g_prob, float) and g_prob != cfg["gravity"]["G"]:
        raise _at(origin, (name, "G"), ConfigError(
            f"{name}.G = {_show(g_prob)} differs from gravity.G = {_show(cfg['gravity']['G'])}"))
    t = cfg["time"]
    if t["stop_time"] is None and t["stop_step"] is None:
        raise _at(origin, ("time",), ConfigError(
            "time: set time.stop_time or time.stop_step (the run would never end)"))
    order = ["problem", name] + [s for s in SCHEMA if s != "problem"]
    return {s: cfg[s] for s in order}


def _problem_names_safe():
    try:
        return _problem_names()
    except Exception:
        return []


def _apply_sets(raw, sets, origin):
    for label, section, key, value in sets:
        sec = raw.setdefault(section, {})
        if not isinstance(sec, dict):
            sec = raw[section] = {}
        sec[key] = value
        origin[(section, key)] = label


def config_from_text(text, source="<config>", overrides=()):
    """Validate the YAML ``text``; ``overrides`` are ``section.key=value`` strings or
    ``(label, section, key, value)`` tuples applied on top."""
    try:
        raw = _yaml_load(text)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {_yaml_reason(exc)}") from None
    if raw is None:
        raw = {}
    origin = {(): source}
    sets = []
    for ov in overrides:
        if isinstance(ov, str):
            sets.append((f"--set {ov}",) + parse_set(ov))
        else:
            sets.append(tuple(ov))
    if isinstance(raw, dict):
        _apply_sets(raw, sets, origin)
    return validate(raw, origin)


def load_config(path, overrides=()):
    """Read and validate the YAML file ``path`` with ``overrides`` (see config_from_text)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return config_from_text(text, source=path, overrides=overrides)


def dump_config(cfg):
    """Return ``cfg`` as YAML text that ``config_from_text`` reads back to an equal dict."""
    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None, width=100)


def schema_table():
    """Return Markdown rows ``| key | type | default | range | meaning |`` of SCHEMA."""
    rows = ["| key | type | default | allowed | meaning |", "| --- | --- | --- | --- | --- |"]
    for section, keys in SCHEMA.items():
        for key, p in keys.items():
            default = "required" if p.default is None and not p.nullable else _show(p.default)
            if p.kind == "boundary":
                default = "outflow"
            rng = p.range_text() + (", even" if p.even else "") + \
                (", or null" if p.nullable else "") + (", or a list" if p.per_level else "")
            doc = p.doc.replace("|", "\\|")
            rows.append(f"| `{section}.{key}` | {p.kind} | {default} | {rng} | {doc} |")
    return "\n".join(rows)
