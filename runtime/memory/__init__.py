"""Registered memory: the pool, RmaVector and rma_object (paper, section 3.4).

``RmaPool`` hands out blocks of registered memory in size classes (see ``pool``);
``RmaVector`` is a numpy-like array over such a block whose copies share it, and
``rma_object`` holds one large value; both serialize to RMA chunks that the ``rma``
parcelport moves with one-sided gets and no registration on the fly.
"""
from .pool import (ARENA, CLASSES, DYNAMIC, SLAB, UNREGISTERED, PoolExhausted, RmaPool,
                   default_pool, locate, set_default_pool)
from .vector import RmaObject, RmaVector, memory_key, rma_object

__all__ = ["RmaPool", "PoolExhausted", "RmaVector", "RmaObject", "rma_object", "memory_key",
           "default_pool", "set_default_pool", "locate", "pool_stats", "SLAB", "CLASSES",
           "ARENA", "DYNAMIC", "UNREGISTERED"]


def pool_stats():
    """Return the default pool's occupancy statistics (see ``RmaPool.stats``)."""
    return default_pool().stats()
