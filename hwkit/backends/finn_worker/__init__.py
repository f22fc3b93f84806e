"""Code that runs inside the FINN virtual environment (``.venv-finn``), started by
``hwkit.backends.finn`` as ``<venv>/bin/python -I .../finn_worker/__main__.py COMMAND JOB.json``.

It imports only the standard library, numpy, qonnx and finn: never hwkit's torch-heavy modules,
and never anything named ``finn`` from hwkit's own tree (the script directory holds no such name).
"""
