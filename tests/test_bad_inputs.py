"""The bad-input corpus (tests/bad_inputs/make_corpus.py) through the CLI in-process: each case exits with
its code and ONE error line holding its words, with no traceback and no half-written output."""
import atexit
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "bad_inputs"))
from make_corpus import make_corpus  # noqa: E402

_DIR = Path(tempfile.mkdtemp(prefix="hwkit-bad-inputs-"))
atexit.register(shutil.rmtree, _DIR, True)
CASES = {c.name: c for c in make_corpus(_DIR)}


def test_corpus_is_large_enough():
    assert len(CASES) >= 60
    assert len({c.code for c in CASES.values()}) >= 2


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, capsys, monkeypatch):
    from hwkit.cli import main

    case = CASES[name]
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    code = main([str(a) for a in case.argv])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert code == case.code, f"{name}: exit {code}, expected {case.code}: {err[-800:]}"
    assert "Traceback" not in err and len(errors) == 1 and lines[-1] == errors[0], f"{name}: {err[-800:]}"
    for word in case.words:
        assert word.lower() in errors[0].lower(), f"{name}: {word!r} not in {errors[0]!r}"
    for path in case.absent:
        assert not Path(path).exists(), f"{name}: {path} was written"
