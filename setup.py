"""The wheel carries the top-level ``hls/`` and ``boards/`` folders inside the package (as
``hwkit/_hls`` and ``hwkit/_boards``, found by :mod:`hwkit.resources`); their file patterns and
everything else are in pyproject.toml."""
from setuptools import find_packages, setup

DATA = {"hwkit._hls": "hls", "hwkit._boards": "boards"}

setup(
    packages=find_packages(include=["hwkit", "hwkit.*"]) + sorted(DATA),
    package_dir=DATA,
)
