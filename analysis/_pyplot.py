"""The analysis scripts' matplotlib (off-screen), or None with a note when it is missing."""


def pyplot():
    """Return ``matplotlib.pyplot`` on the Agg backend, or print why not and return None."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: wrote the CSV only (pip install matplotlib, or "
              "the 'analysis' extra, for the PNG)")
        return None
    return plt
