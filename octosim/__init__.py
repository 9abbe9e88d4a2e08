"""octosim: octree AMR hydrodynamics with FMM gravity, in the spirit of Octo-Tiger."""

__version__ = "0.1.0"
