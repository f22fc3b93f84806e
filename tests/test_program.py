"""hwkit.program: the openFPGALoader command for a build directory (dry run), one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwkit.errors import ConfigError, ToolMissingError
from hwkit.program import find_bitstream, program


def _build(tmp_path: Path, board: str, suffix: str) -> tuple[Path, Path]:
    d = tmp_path / f"build-{board}"
    (d / "08-bitstream").mkdir(parents=True)
    bit = d / "08-bitstream" / f"{board}{suffix}"
    bit.write_bytes(b"\xff\x00bitstream")
    (d / "manifest.json").write_text(json.dumps({"config": {"board": board}, "stages": []}))
    return d, bit


@pytest.mark.parametrize("board,suffix,target", [
    ("ulx3s", ".bit", ["-b", "ulx3s"]),
    ("icebreaker", ".bin", ["-b", "ice40_generic"]),
    ("tang-nano-9k", ".fs", ["-b", "tangnano9k"]),
    ("tang-nano-20k", ".fs", ["-b", "tangnano20k"]),
])
def test_dry_run_commands(tmp_path, board, suffix, target):
    d, bit = _build(tmp_path, board, suffix)
    argv = program(d, dry_run=True)
    assert Path(argv[0]).name == "openFPGALoader"
    assert argv[1:] == [*target, str(bit)]


def test_cable_overrides_board_and_board_argument_wins(tmp_path):
    d, bit = _build(tmp_path, "ulx3s", ".bit")
    assert program(d, dry_run=True, cable="ft2232")[1:] == ["-c", "ft2232", str(bit)]
    assert program(d, board="icebreaker", dry_run=True)[1:3] == ["-b", "ice40_generic"]


def test_board_without_programmer_is_one_line(tmp_path):
    d, _ = _build(tmp_path, "orangecrab", ".bit")
    with pytest.raises(ConfigError, match="no 'programmer:' entry.*--cable") as err:
        program(d, dry_run=True)
    assert "\n" not in str(err.value)


def test_missing_bitstream_and_unknown_board(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no bitstream"):
        find_bitstream(tmp_path / "empty")
    with pytest.raises(ConfigError, match="not found"):
        find_bitstream(tmp_path / "nothing")
    d, _ = _build(tmp_path, "ulx3s", ".bit")
    with pytest.raises(ConfigError, match="unknown board 'nosuchboard'"):
        program(d, board="nosuchboard", dry_run=True)


def test_missing_tool_names_the_debian_package(tmp_path, monkeypatch):
    import shutil

    if shutil.which("openFPGALoader"):
        pytest.skip("openFPGALoader is installed here: would program a board")
    d, _ = _build(tmp_path, "ulx3s", ".bit")
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))     # nothing beside 'python' either
    with pytest.raises(ToolMissingError, match="apt-get install openfpgaloader") as err:
        program(d)
    assert "\n" not in str(err.value)


def test_cli_program_dry_run_prints_the_command(tmp_path, capsys):
    from hwkit.cli import main

    d, bit = _build(tmp_path, "ulx3s", ".bit")
    assert main(["program", str(d), "--dry-run"]) == 0
    assert capsys.readouterr().out.strip() == f"openFPGALoader -b ulx3s {bit}"
    assert main(["program", str(tmp_path / "nothing"), "--dry-run"]) == 2
