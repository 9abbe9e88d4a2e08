"""Benchmarks of the runtime, each printing its baseline measured in the same run.

``python -m runtime.benchmarks.serialization`` compares the chunked archive with pickle and
msgpack (paper, Figure 3); ``mpiexec -n 2 python -m runtime.benchmarks.osu ...`` measures
actions over the parcelports against mpi4py (paper, Figure 5).
"""
