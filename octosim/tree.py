"""Octree topology: node keys, levels, neighbours, 2:1 balance and Morton order.

A node is named by its key ``(level, ix, iy, iz)`` with ``0 <= ix, iy, iz < 2**level``; the
root ``(0, 0, 0, 0)`` covers the whole domain ``[-xscale, xscale]^3``.  Every node has either
no children (a leaf) or all eight (an interior node): the tree is stored as the set of its
nodes.  A node also has a compact integer *locational code*, ``1 << 3*level`` followed by the
bit-interleaved (Morton) index ``z y x`` of its position, which is unique across levels.

The order of the leaves (``Octree.leaves``: the curve along which localities take their
shares) is a Morton curve too, by default with the same bit order (``curve = "zyx"``: the
axes from most to least significant, x fastest).  ``choose_curve`` puts first the axis along
which the finest leaves extend furthest, so that the curve's first cuts fall across the
long side of the refined region (the rule of orthogonal recursive bisection): for a binary
star on the x axis the two halves then meet between or across one star, not through both.

Balance is 2:1 across faces, edges and corners: two leaves that touch, even at a single
point, differ by at most one level.  Periodic axes wrap neighbours around.

This module knows nothing of fields or physics; the mesh, the exchange and gravity build on it.
"""

import itertools

ROOT = (0, 0, 0, 0)

#: The 26 neighbour directions (faces, edges, corners), in a fixed order.
DIRECTIONS = tuple(d for d in itertools.product((-1, 0, 1), repeat=3) if d != (0, 0, 0))
#: The 6 face directions as (axis, side) with side 0 = low, 1 = high.
FACES = tuple((axis, side) for axis in range(3) for side in (0, 1))
#: Child octants (ox, oy, oz) in Morton order (x fastest).
OCTANTS = tuple((o & 1, (o >> 1) & 1, (o >> 2) & 1) for o in range(8))


def _spread3(v):
    """Spread the bits of ``v`` so that bit b lands on bit 3b."""
    r = 0
    b = 0
    while v:
        r |= (v & 1) << (3 * b)
        v >>= 1
        b += 1
    return r


def _compact3(v):
    """Gather every third bit of ``v`` (inverse of ``_spread3``)."""
    r = 0
    b = 0
    while v:
        r |= (v & 1) << b
        v >>= 3
        b += 1
    return r


def morton_index(ix, iy, iz):
    """Return the Morton (Z-order) index of a cell, x in the lowest bit."""
    return _spread3(ix) | (_spread3(iy) << 1) | (_spread3(iz) << 2)


def locational_code(key):
    """Return the compact integer code of a node: a level marker bit then its Morton index."""
    level, ix, iy, iz = key
    return (1 << (3 * level)) | morton_index(ix, iy, iz)


def key_from_code(code):
    """Return the key ``(level, ix, iy, iz)`` of a locational code."""
    assert code >= 1, code
    level = (code.bit_length() - 1) // 3
    m = code ^ (1 << (3 * level))
    return (level, _compact3(m), _compact3(m >> 1), _compact3(m >> 2))


#: The classic Morton bit order: z most significant, x fastest.
CURVE = "zyx"
CURVES = tuple("".join(p) for p in itertools.permutations("xyz"))


def morton_key(key, max_level, curve=CURVE):
    """Return a sort key placing nodes of all levels on one Morton curve (parents first).

    ``curve`` lists the axes from the most to the least significant bit of each triple.
    """
    level, ix, iy, iz = key
    s = max_level - level
    assert s >= 0, (key, max_level)
    v = {"x": ix << s, "y": iy << s, "z": iz << s}
    return (morton_index(v[curve[2]], v[curve[1]], v[curve[0]]), level)


def choose_curve(tree):
    """Return the curve whose most significant axes are those along which the deepest
    leaves extend furthest (ties keep ``CURVE``'s order)."""
    leaves = tree.leaves()
    deep = max(k[0] for k in leaves)
    ext = []
    for a in range(3):
        c = [k[1 + a] for k in leaves if k[0] == deep]
        ext.append(max(c) - min(c))
    rank = {"z": 0, "y": 1, "x": 2}
    return "".join(sorted("xyz", key=lambda a: (-ext["xyz".index(a)], rank[a])))


def parent(key):
    """Return the parent key of a non-root node."""
    level, ix, iy, iz = key
    assert level > 0, key
    return (level - 1, ix >> 1, iy >> 1, iz >> 1)


def octant(key):
    """Return the octant ``(ox, oy, oz)`` a node occupies in its parent."""
    _, ix, iy, iz = key
    return (ix & 1, iy & 1, iz & 1)


def children(key):
    """Return the eight child keys of a node in Morton order."""
    level, ix, iy, iz = key
    return [(level + 1, 2 * ix + ox, 2 * iy + oy, 2 * iz + oz) for ox, oy, oz in OCTANTS]


def node_width(level, xscale):
    """Return the edge length of a node at ``level``."""
    return 2.0 * xscale / (1 << level)


def node_origin(key, xscale):
    """Return the low corner (x, y, z) of a node."""
    level, ix, iy, iz = key
    w = node_width(level, xscale)
    return (-xscale + ix * w, -xscale + iy * w, -xscale + iz * w)


class Octree:
    """Set of nodes of a complete octree (0 or 8 children each) with wrap-aware neighbours."""

    def __init__(self, max_level, periodic=(False, False, False), nodes=None, curve=CURVE):
        assert curve in CURVES, curve
        self.curve = curve
        self.max_level = int(max_level)
        self.periodic = tuple(bool(p) for p in periodic)
        self.nodes = {ROOT} if nodes is None else set(nodes)
        self._leaves = None
        self._cache = {}
        assert ROOT in self.nodes

    @classmethod
    def from_leaves(cls, leaves, max_level, periodic=(False, False, False), curve=CURVE):
        """Build the tree whose leaves are ``leaves`` (all ancestors are added)."""
        nodes = {ROOT}
        for key in leaves:
            k = tuple(key)
            while k not in nodes:
                nodes.add(k)
                k = parent(k)
        tree = cls(max_level, periodic, nodes, curve)
        for key in nodes:
            if key not in tree.nodes or tree.is_leaf(key):
                continue
            assert all(c in nodes for c in children(key)), f"incomplete node {key}"
        return tree

    # -- queries ----------------------------------------------------------------------------
    def __contains__(self, key):
        return key in self.nodes

    def __len__(self):
        return len(self.nodes)

    def is_leaf(self, key):
        """Return True when ``key`` is a node without children."""
        level, ix, iy, iz = key
        return (level + 1, 2 * ix, 2 * iy, 2 * iz) not in self.nodes

    def leaves(self):
        """Return the leaves in the order of the tree's curve (cached until the tree changes)."""
        if self._leaves is None:
            lv = [k for k in self.nodes if self.is_leaf(k)]
            lv.sort(key=lambda k: morton_key(k, self.max_level, self.curve))
            self._leaves = lv
        return list(self._leaves)

    def sorted_nodes(self):
        """Return all nodes in curve order, each parent before its descendants."""
        return sorted(self.nodes, key=lambda k: morton_key(k, self.max_level, self.curve))

    def levels(self):
        """Return a list, per level, of the nodes of that level in curve order (cached)."""
        out = self._cache.get("levels")
        if out is None:
            out = [[] for _ in range(self.depth() + 1)]
            for k in self.sorted_nodes():
                out[k[0]].append(k)
            self._cache["levels"] = out
        return [list(x) for x in out]

    def neighbor_list(self, key):
        """Return ``((d, neighbour key), ...)`` of the existing same-level neighbours (cached)."""
        return self._neighbor_info(key)[0]

    def surrounded(self, key):
        """Return True when every in-domain neighbour region of ``key`` is a same-level node."""
        return self._neighbor_info(key)[1]

    def _neighbor_info(self, key):
        table = self._cache.setdefault("nb", {})
        out = table.get(key)
        if out is None:
            found, inside = [], 0
            for d in DIRECTIONS:
                nb = self.neighbor_key(key, d)
                if nb is None:
                    continue
                inside += 1
                if nb in self.nodes:
                    found.append((d, nb))
            out = (tuple(found), len(found) == inside)
            table[key] = out
        return out

    def depth(self):
        """Return the finest level present."""
        return max(k[0] for k in self.nodes)

    def neighbor_key(self, key, d):
        """Return the same-level key in direction ``d`` (wrapped if periodic) or None outside."""
        level = key[0]
        n = 1 << level
        out = [level]
        for a in range(3):
            i = key[1 + a] + d[a]
            if i < 0 or i >= n:
                if not self.periodic[a]:
                    return None
                i %= n
            out.append(i)
        return tuple(out)

    def neighbor(self, key, d):
        """Return the existing same-level node in direction ``d``, or None."""
        nb = self.neighbor_key(key, d)
        return nb if nb is not None and nb in self.nodes else None

    def neighbors(self, key):
        """Return ``{d: key}`` of the existing same-level nodes in the 26 directions."""
        out = {}
        for d in DIRECTIONS:
            nb = self.neighbor(key, d)
            if nb is not None:
                out[d] = nb
        return out

    def containing_node(self, key):
        """Return the finest existing node that contains (or equals) ``key``."""
        k = key
        while k not in self.nodes:
            k = parent(k)
        return k

    def is_balanced(self):
        """Return True when every leaf's touching regions exist one level coarser."""
        for key in self.nodes:
            if key[0] == 0 or not self.is_leaf(key):
                continue
            for d in DIRECTIONS:
                nb = self.neighbor_key(key, d)
                if nb is not None and parent(nb) not in self.nodes:
                    return False
        return True

    # -- modification -----------------------------------------------------------------------
    def set_curve(self, curve):
        """Order leaves and nodes along ``curve`` from now on (``CURVES``)."""
        assert curve in CURVES, curve
        if curve != self.curve:
            self.curve = curve
            self._changed()

    def _changed(self):
        self._leaves = None
        self._cache = {}

    def _split(self, key):
        for c in children(key):
            self.nodes.add(c)
        self._changed()

    def refine(self, key):
        """Split leaf ``key``, first splitting coarser touching leaves to keep 2:1 balance.

        Returns the list of nodes that were split, in the order they were split.
        """
        assert key in self.nodes, key
        if not self.is_leaf(key):
            return []
        assert key[0] < self.max_level, f"cannot refine {key} past max_level {self.max_level}"
        split = []
        for d in DIRECTIONS:
            nb = self.neighbor_key(key, d)
            if nb is None:
                continue
            while nb not in self.nodes:
                split += self.refine(self.containing_node(nb))
        self._split(key)
        split.append(key)
        return split

    def can_coarsen(self, key):
        """Return True when ``key``'s children are leaves and removing them keeps balance."""
        if key not in self.nodes or self.is_leaf(key):
            return False
        kids = children(key)
        if not all(self.is_leaf(c) for c in kids):
            return False
        for d in DIRECTIONS:
            nb = self.neighbor(key, d)
            if nb is None or self.is_leaf(nb):
                continue
            # children of nb that touch key must be leaves
            for c in children(nb):
                if not self.is_leaf(c) and self._touches(c, key):
                    return False
        return True

    def coarsen(self, key):
        """Remove the (leaf) children of ``key``; the caller checks ``can_coarsen`` first."""
        assert self.can_coarsen(key), key
        for c in children(key):
            self.nodes.discard(c)
        self._changed()

    def _touches(self, a, b):
        """Return True when nodes ``a`` and ``b`` (any levels) share a face, edge or corner."""
        la, lb = a[0], b[0]
        L = max(la, lb)
        sa, sb = 1 << (L - la), 1 << (L - lb)
        n = 1 << L
        for ax in range(3):
            a0, a1 = a[1 + ax] * sa, (a[1 + ax] + 1) * sa
            b0, b1 = b[1 + ax] * sb, (b[1 + ax] + 1) * sb
            ok = a0 <= b1 and b0 <= a1
            if not ok and self.periodic[ax]:
                ok = (a1 == n and b0 == 0) or (b1 == n and a0 == 0)
            if not ok:
                return False
        return True
