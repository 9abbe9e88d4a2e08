"""``python -m octosim INPUT.yaml``: see octosim.cli."""

import sys

from octosim.cli import main

if __name__ == "__main__":
    sys.exit(main())
