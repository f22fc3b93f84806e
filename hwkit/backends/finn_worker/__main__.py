"""Entry point inside .venv-finn: ``python -I __main__.py {build|execute|trace|versions} JOB.json``.

``-I`` keeps the caller's PYTHONPATH (hwkit's venv) out; this directory is put on sys.path by hand
so ``boot`` and ``worker`` import as top-level modules without importing hwkit."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from worker import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
