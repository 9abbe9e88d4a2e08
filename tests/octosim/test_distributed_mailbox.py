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


def test_tail_chunks_go_once_each_owner_from_the_front_thieves_from_the_back():
    """Work stealing's book (``_take_chunk``): each chunk of a solve's tail has one holder,
    from many threads at once; old solves are forgotten."""
    import threading
    sid = 10 ** 6                                   # far from any solve of other tests
    assert D._take_chunk(sid, 0, 4, False) == 0     # the owner from the front
    assert D._take_chunk(sid, 3, 4, True) == 3      # a thief from the back
    assert D._take_chunk(sid, 5, 4, True) == 2
    assert D._take_chunk(sid, 0, 4, False) == 1
    assert D._take_chunk(sid, 5, 4, True) == -1 and D._take_chunk(sid, 0, 4, False) == -1
    assert D._holders(sid) == [0, 0, 5, 3]
    got = []
    lock = threading.Lock()

    def grab(who):
        for _ in range(50):
            c = D._take_chunk(sid + 1, who, 64, who % 2 == 0)
            if c >= 0:
                with lock:
                    got.append((c, who))
    threads = [threading.Thread(target=grab, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(c for c, _ in got) == list(range(64))          # each chunk once
    assert D._holders(sid + 1) == [w for _, w in sorted(got)]
    D._take_chunk(sid + 20, 0, 1, False)            # a later solve forgets those 8 back
    assert D._holders(sid) == [] and D._holders(sid + 1) == []
