"""Stable symmetric block as an hls4ml extension layer (placeholder, filled below)."""
PRECISION: dict = {}


def prepare(mw):
    return mw, None
