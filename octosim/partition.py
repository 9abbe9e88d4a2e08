"""Equal shares of a sequence of leaves (Morton order): by count or by weight."""

import numpy as np

__all__ = ["partition"]


def partition(nleaves, nloc, weights=None):
    """Return the leaf index bounds ``[b_0 = 0, ..., b_nloc = nleaves]`` of equal shares:
    of leaves, or of ``weights`` (per leaf, Morton order) when given.

    A weighted cut goes to the leaf boundary nearest to ``r / nloc`` of the total weight,
    keeping every share non-empty when there are at least ``nloc`` leaves.
    """
    if weights is None:
        return [(r * nleaves) // nloc for r in range(nloc + 1)]
    w = np.asarray(weights, dtype=float)
    assert w.shape == (nleaves,) and np.all(w > 0.0), "weights: one positive value per leaf"
    prefix = np.concatenate(([0.0], np.cumsum(w)))
    b = [0]
    for r in range(1, nloc):
        target = prefix[-1] * r / nloc
        i = int(np.searchsorted(prefix, target))
        if i > 0 and target - prefix[i - 1] <= prefix[min(i, nleaves)] - target:
            i -= 1
        lo, hi = b[-1], nleaves
        if nleaves >= nloc:
            lo, hi = b[-1] + 1, nleaves - (nloc - r)
        b.append(min(max(i, lo), hi))
    b.append(nleaves)
    return b
