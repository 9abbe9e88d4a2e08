"""The mpi parcelport's follow-up tag ranges (``TagRanges``), without MPI: the bisection
takes exactly the tags that a plain scan over the ranges in flight takes."""
import random

import pytest

from runtime.parcelport.mpi import TagRanges


class ScanRanges:
    """The reference: every candidate checked against every range in flight."""

    def __init__(self, first, ub):
        self.first, self.ub, self.next, self.size = first, ub, first, {}

    def take(self, n):
        t = self.next
        ends = sorted(s + m for s, m in self.size.items())
        for c in [t] + [e for e in ends if e > t] + [self.first] + [e for e in ends if e <= t]:
            if c + n - 1 > self.ub:
                continue
            if all(s >= c + n or s + m <= c for s, m in self.size.items()):
                self.size[c] = n
                self.next = c + n
                return c, c < t
        return None, False

    def free(self, start):
        del self.size[start]


@pytest.mark.parametrize("seed", range(20))
def test_tag_ranges_take_what_a_scan_takes_and_never_overlap(seed):
    rng = random.Random(seed)
    ub = rng.choice([9, 16, 33, 64])
    fast, ref = TagRanges(2, ub), ScanRanges(2, ub)
    held, wraps, nones = [], 0, 0
    for _ in range(3000):
        if held and (rng.random() < 0.45 or len(held) > 40):
            i = rng.randrange(len(held)) if rng.random() < 0.3 else 0  # mostly oldest first
            c = held.pop(i)
            fast.free(c)
            ref.free(c)
            continue
        n = rng.choice([1, 1, 1, 2, 3, 5])
        got = fast.take(n)
        assert got == ref.take(n)
        c, wrapped = got
        if c is None:
            nones += 1
            continue
        wraps += wrapped
        assert 2 <= c and c + n - 1 <= ub
        for h in held:                        # disjoint from every range in flight
            assert c + n <= h or h + fast.size[h] <= c
        held.append(c)
    assert len(fast.starts) == len(held) and sorted(fast.starts) == fast.starts
    assert wraps > 0 and nones > 0            # both edge cases were reached


def test_tag_ranges_refuse_a_parcel_wider_than_the_space():
    with pytest.raises(ValueError, match="tag space holds 7"):
        TagRanges(2, 8).take(8)
