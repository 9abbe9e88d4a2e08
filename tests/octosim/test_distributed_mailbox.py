"""The distributed step's mailbox: receives keyed by (tag, cycle, source), in any arrival
order, and a wait that runs out names what it waited for."""
import numpy as np
import pytest

import runtime
from octosim import distributed as D


def test_mailbox_matches_by_key_whatever_the_arrival_order():
    with runtime.init(parcelport="local", threads=1):
        a, b = np.arange(3.0), np.ones(2)
        D._deliver("halo", 2, 0, b)          # the later cycle arrives first
        D._deliver("halo", 1, 0, a)
        assert D._receive("halo", 1, 0, timeout=1) is a
        assert D._receive("halo", 2, 0, timeout=1) is b
        assert not D._box                    # both slots given up once read


def test_receive_that_times_out_names_tag_cycle_and_source():
    with runtime.init(parcelport="local", threads=1):
        with pytest.raises(TimeoutError, match=r"locality 0: no 'moments' data from locality 3 "
                                               r"for cycle 7 \(future not ready after 0.05 s\)"):
            D._receive("moments", 7, 3, timeout=0.05)
        D._box.clear()
