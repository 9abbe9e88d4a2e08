"""Problem setups, one module per problem (pyro2 style), found by name.

Each module ``octosim.problems.<name>`` provides:

``PARAMS``
    dict name -> (type, default, (lo, hi) or None, one-line doc), for ``str`` a tuple of
    choices in place of (lo, hi); the config section is named like the problem (``sod.rho_l``).  Unknown names are errors (``state.resolve``).
``DEFAULT_GAMMA``
    the adiabatic index the problem is usually run with.
``init_data(U, x, y, z, params, gamma)``
    fill the interior cells of block ``U`` given 1-D cell-centre coordinates.
``refine(U, level, dx, params) -> bool``
    the problem's refinement criterion (kernels in ``criteria``); ghosts must be filled.
``REFINE_READS_GHOSTS`` (optional, True when absent)
    False when ``refine`` reads the interior only (a density floor): the set-up's
    refinement passes then need no ghost exchange (``amr.Criterion.reads_ghosts``).
``exact(x, y, z, t, params, gamma)`` (where one exists)
    analytic primitives (rho, vx, vy, vz, p) on the cell centres.

A new problem is a new module in this package (or any importable module named
``package.module``); no core file changes.
"""
import importlib
import pkgutil

_REQUIRED = ("PARAMS", "init_data", "refine")


def _is_problem(mod):
    return all(hasattr(mod, a) for a in _REQUIRED)


def available():
    """Return the sorted names of the problem modules in this package (helpers excluded)."""
    names = []
    for m in pkgutil.iter_modules(__path__):
        if not m.name.startswith("_") and _is_problem(importlib.import_module(f"{__name__}.{m.name}")):
            names.append(m.name)
    return sorted(names)


def get_problem(name):
    """Return the problem module called ``name`` (or a dotted module path); ValueError if none."""
    modname = name if "." in name else f"{__name__}.{name}"
    try:
        mod = importlib.import_module(modname)
    except ModuleNotFoundError as exc:
        if exc.name != modname:
            raise
        raise ValueError(f"unknown problem {name!r}; available: {', '.join(available())}") from None
    if not _is_problem(mod):
        raise ValueError(f"{name!r} is not a problem (it lacks one of {', '.join(_REQUIRED)}); "
                         f"available: {', '.join(available())}")
    return mod
