"""Parcelports (transports) registered by name.

A parcelport module registers its class with ``@register_parcelport("name")``;
``get_parcelport("name")`` imports ``runtime.parcelport.<name>`` on first use, so a new
transport (issue 4's ``rma``) plugs in by adding a module, without editing this file.
"""
import importlib

from .base import Parcelport

__all__ = ["Parcelport", "register_parcelport", "get_parcelport", "available_parcelports"]

_registry = {}


def register_parcelport(name):
    """Class decorator: make a Parcelport subclass available under ``name``."""
    def deco(cls):
        if name in _registry and _registry[name] is not cls:
            raise ValueError(f"parcelport {name!r} already registered by {_registry[name].__qualname__}")
        cls.name = name
        _registry[name] = cls
        return cls
    return deco


def get_parcelport(name):
    """Return the parcelport class registered as ``name`` (importing its module if needed)."""
    if name not in _registry:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
    try:
        return _registry[name]
    except KeyError:
        raise ValueError(f"unknown parcelport {name!r} (known: {', '.join(sorted(_registry)) or 'none'})") from None


def available_parcelports():
    return sorted(_registry)
