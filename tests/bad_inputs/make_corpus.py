"""Generate the bad-input corpus: hostile or broken files and command lines, each with the exit code and
the words its one-line error must contain. Files are written at test time into a directory given by the
caller (nothing binary is committed). ``python tests/bad_inputs/make_corpus.py DIR`` lists the cases."""
from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TFC = ROOT / "hwkit" / "pretrained" / "tfc_w2a2_digits.onnx"
BOARD = ROOT / "boards" / "ulx3s.yaml"


@dataclass
class Case:
    name: str
    argv: list
    code: int
    words: list
    env: dict = field(default_factory=dict)
    absent: list = field(default_factory=list)    # paths that must not exist afterwards


def _onnx(root: Path, name: str, edit) -> Path:
    import onnx

    m = onnx.load(str(TFC))
    edit(m.graph)
    p = root / f"{name}.onnx"
    onnx.save(m, str(p))
    return p


def _node(g, name):
    return next(n for n in g.node if n.name == name)


def _init(g, name):
    return next(i for i in g.initializer if i.name == name)


def _set_init(g, name, value):
    from onnx import numpy_helper

    t = _init(g, name)
    t.CopyFrom(numpy_helper.from_array(np.asarray(value, dtype=numpy_helper.to_array(t).dtype), name))


def _weights(g, name, fn):
    from onnx import numpy_helper

    t = _init(g, name)
    a = numpy_helper.to_array(t).copy()
    fn(a)
    t.CopyFrom(numpy_helper.from_array(a, name))


def _rename(g, old, new):
    _node(g, old).name = new


def _unsupported(g, new_name):
    n = _node(g, "Relu_1")
    n.op_type = "Softplus"
    n.name = new_name


def model_cases(root: Path) -> list[Case]:
    import onnx
    from onnx import helper

    cases = []

    def model(name, edit, code, words, cmd=("verify",), extra=("--n", "4")):
        cases.append(Case(f"model-{name}", [*cmd, str(_onnx(root, name, edit)), *extra], code, words))

    def raw(name, data: bytes, code, words):
        p = root / f"{name}.onnx"
        p.write_bytes(data)
        cases.append(Case(f"model-{name}", ["verify", str(p), "--n", "4"], code, words))

    raw("empty-file", b"", 2, ["no nodes"])
    raw("garbage", bytes(range(256)) * 4, 2, ["onnx"])
    raw("text", b"hello, I am not a model\n", 2, [])
    raw("truncated", TFC.read_bytes()[:500], 2, [])
    cases.append(Case("model-missing", ["verify", str(root / "nope.onnx"), "--n", "4"], 2, ["not found"]))
    cases.append(Case("model-is-directory", ["verify", str(root), "--n", "4"], 2, ["not found"]))

    def cycle(g):
        _node(g, "Gemm_0").input[0] = "Quant_10_out0"
    model("cycle", cycle, 2, ["cycle"])

    def written_twice(g):
        _node(g, "Relu_1").output[0] = "Relu_0_out0"
    model("written-twice", written_twice, 2, ["written by two nodes", "Relu_0_out0"])

    def writes_input(g):
        _node(g, "Relu_1").output[0] = "global_in"
    model("writes-graph-input", writes_input, 2, ["global_in", "graph input"])

    def dup_init(g):
        g.initializer.append(copy.deepcopy(_init(g, "Quant_0_param0")))
    model("duplicate-initializer", dup_init, 2, ["Quant_0_param0", "defined twice"])

    def empty_graph(g):
        del g.node[:]
    model("empty-graph", empty_graph, 2, ["no nodes"])

    def no_input(g):
        del g.input[:]
    model("no-graph-input", no_input, 2, ["no input"])

    model("nan-weights", lambda g: _weights(g, "Quant_2_param0", lambda a: a.flat.__setitem__(3, np.nan)),
          2, ["Quant_2_param0", "NaN"])
    model("inf-input-scale", lambda g: _set_init(g, "Quant_8_param0", np.inf), 2, ["Quant_8", "scale", "Inf"])
    model("nan-scale", lambda g: _set_init(g, "Quant_9_param0", np.nan), 2, ["Quant_9", "scale", "NaN"])
    model("zero-scale", lambda g: _set_init(g, "Quant_9_param0", 0.0), 2, ["Quant_9", "scale", "> 0"])
    model("negative-scale", lambda g: _set_init(g, "Quant_0_param1", -0.5), 2, ["Quant_0", "scale", "> 0"])
    model("bitwidth-zero", lambda g: _set_init(g, "Quant_9_param2", 0.0), 2, ["Quant_9", "bit width", ">= 1"])
    model("bitwidth-negative", lambda g: _set_init(g, "Quant_0_param3", -2.0), 2, ["Quant_0", "bit width"])
    model("bitwidth-fraction", lambda g: _set_init(g, "Quant_10_param2", 2.5), 2, ["Quant_10", "integer"])
    model("nan-zero-point", lambda g: _set_init(g, "Quant_9_param1", np.nan), 2, ["Quant_9", "zero point"])

    def huge_input(g):
        d = g.input[0].type.tensor_type.shape.dim
        d[2].dim_value, d[3].dim_value = 1 << 16, 1 << 16
    model("tensor-claims-16gb", huge_input, 3, ["global_in", "values per sample"])

    def huge_init(g):
        t = _init(g, "Quant_0_param0")
        del t.dims[:]
        t.dims.extend([1 << 30])
    model("initializer-claims-4gb", huge_init, 3, ["Quant_0_param0", "declares"])

    def short_init(g):
        t = _init(g, "Quant_0_param0")
        t.raw_data = t.raw_data[:16]
    model("initializer-short-data", short_init, 2, ["Quant_0_param0", "bytes"])

    def negative_dim(g):
        g.input[0].type.tensor_type.shape.dim[2].dim_value = -8
    model("negative-dimension", negative_dim, 2, ["negative dimension"])

    model("unsupported-op", lambda g: _unsupported(g, "act_1"), 3, ["act_1", "Softplus"])
    model("markup-close-tag-name", lambda g: _unsupported(g, "[/bold]"), 3, ["[/bold]"])
    model("markup-style-name", lambda g: _unsupported(g, "[blink red]x[/]"), 3, ["[blink red]x[/]"])
    model("ansi-escape-name", lambda g: _unsupported(g, "a\x1b[2Jb"), 3, ["\\x1b[2j"])
    model("newline-name", lambda g: _unsupported(g, "line1\nline2"), 3, ["line1\\nline2"])

    def two_inputs(g):
        g.input.append(helper.make_tensor_value_info("extra_in", onnx.TensorProto.FLOAT, [1, 4]))
    model("two-graph-inputs", two_inputs, 3, ["2 inputs"])

    def relu_two_inputs(g):
        _node(g, "Relu_1").input.append("Relu_0_out0")
    model("relu-two-inputs", relu_two_inputs, 2, ["Relu_1", "ONNX allows"])
    model("quant-bad-rounding", lambda g: _node(g, "Quant_9").attribute[1].CopyFrom(
        helper.make_attribute("rounding_mode", "BOGUS")), 2, ["Quant_9", "rounding_mode"])
    model("gemm-no-transb", lambda g: _node(g, "Gemm_3").attribute.pop(), 2, ["Gemm_3", "do not multiply"])
    return cases


def input_cases(root: Path) -> list[Case]:
    cases = []

    def npy(name, arr, words, code=2):
        p = root / f"{name}.npy"
        np.save(p, arr, allow_pickle=True)
        cases.append(Case(f"sim-{name}", ["sim", str(TFC), "--inputs", str(p)], code, words))

    npy("batch-zero", np.zeros((0, 1, 8, 8), np.float32), ["empty"])
    npy("wrong-shape", np.zeros((3, 5), np.float32), ["do not fit"])
    npy("scalar", np.float32(1.0), ["batch axis"])
    npy("strings", np.array(["a", "b"]), ["numeric"])
    npy("objects", np.array([{"a": 1}], dtype=object), ["cannot read"])
    npy("nan-inputs", np.full((2, 1, 8, 8), np.nan, np.float32), ["nan"])
    npy("ints-off-grid", np.full((2, 64), 10**6, np.int64), ["outside the input grid"])
    bad = root / "notnpy.npy"
    bad.write_bytes(b"not a numpy file")
    cases.append(Case("sim-not-npy", ["sim", str(TFC), "--inputs", str(bad)], 2, ["cannot read"]))
    cases.append(Case("sim-missing-inputs", ["sim", str(TFC), "--inputs", str(root / "none.npy")], 2, ["not found"]))
    ok = root / "ok.npy"
    np.save(ok, np.zeros((2, 1, 8, 8), np.float32))
    afile = root / "a-regular-file"
    afile.write_text("x")
    cases.append(Case("sim-out-under-file", ["sim", str(TFC), "--inputs", str(ok), "--out", str(afile / "y.npy")],
                      2, ["--out", "not a directory"]))
    cases.append(Case("sim-out-is-dir", ["sim", str(TFC), "--inputs", str(ok), "--out", str(root)], 2,
                      ["is a directory"]))
    cases.append(Case("rtl-out-is-file", ["rtl", str(TFC), "--out", str(afile)], 2, ["--out", "not a directory"]))
    cases.append(Case("cosim-out-under-file", ["cosim", str(TFC), "--out", str(afile / "p")], 2, ["not a directory"]))
    cases.append(Case("train-out-under-file", ["train", "tfc", "--out", str(afile / "m.pt")], 2, ["not a directory"]))
    return cases


def checkpoint_cases(root: Path) -> list[Case]:
    import torch

    cases = []

    def ckpt(name, blob, words):
        p = root / f"{name}.pt"
        if isinstance(blob, bytes):
            p.write_bytes(blob)
        else:
            torch.save(blob, p)
        cases.append(Case(f"export-{name}", ["export", str(p), "--out", str(root / f"ckpt-{name}.onnx")], 2, words,
                          absent=[root / f"ckpt-{name}.onnx"]))

    ckpt("garbage", b"garbage", ["not a readable hwkit checkpoint"])
    ckpt("empty", b"", ["not a readable hwkit checkpoint"])
    ckpt("list", [1, 2, 3], ["not a readable hwkit checkpoint"])
    ckpt("config-not-dict", {"config": 5, "state_dict": {}}, ["not a mapping"])
    ckpt("config-empty", {"config": {}, "state_dict": {}}, ["lacks"])
    good_cfg = {"model": "tfc", "dataset": "digits", "wbits": 2, "abits": 2, "ibits": 8, "preset": "pot",
                "in_shape": [1, 8, 8], "num_classes": 10}
    ckpt("unknown-model", {"config": {**good_cfg, "model": "resnet50"}, "state_dict": {}}, ["resnet50"])
    ckpt("bad-shape", {"config": {**good_cfg, "in_shape": "big"}, "state_dict": {}}, ["cannot rebuild"])
    ckpt("state-mismatch", {"config": good_cfg, "state_dict": {"x": torch.zeros(2)}}, ["do not match"])

    shipped = torch.load(ROOT / "hwkit" / "pretrained" / "tfc_w2a2_digits.pt", weights_only=True)
    state = shipped["state_dict"]
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 4 and "weight" in k)
    state[key] = state[key].clone()
    state[key].view(-1)[0] = float("nan")
    ckpt("nan-weights", {"config": shipped["config"], "state_dict": state}, ["nan", key])
    cases.append(Case("export-missing", ["export", str(root / "none.pt")], 2, ["does not exist"]))
    return cases


def board_cases(root: Path) -> list[Case]:
    import yaml

    good = yaml.safe_load(BOARD.read_text())
    lpf = BOARD.with_suffix(".lpf")
    cases = []

    def board(name, mutate, words, text=None):
        d = root / f"boards-{name}"
        d.mkdir()
        (d / lpf.name).write_bytes(lpf.read_bytes())
        data = copy.deepcopy(good)
        mutate(data)
        (d / "ulx3s.yaml").write_text(text if text is not None else yaml.safe_dump(data))
        cases.append(Case(f"board-{name}", ["boards"], 2, ["ulx3s.yaml", *words], env={"HWKIT_BOARDS": str(d)}))

    board("tcl-injection-part", lambda d: d.__setitem__("part", 'xc7z020clg400-1"; exec touch X; puts "'), ["'part'"])
    board("bracket-part", lambda d: d.__setitem__("part", "[exec touch X]"), ["'part'"])
    board("dollar-device", lambda d: d.__setitem__("device", "$env(HOME)"), ["'device'"])
    board("space-package", lambda d: d.__setitem__("package", "CABGA 381"), ["'package'"])
    board("newline-speed", lambda d: d.__setitem__("speed_grade", "6\nputs x"), ["'speed_grade'"])
    board("unknown-family", lambda d: d.__setitem__("family", "cyclone"), ["'family'"])
    board("clock-zero", lambda d: d.__setitem__("clock_mhz", 0), ["'clock_mhz'"])
    board("clock-inf", lambda d: d.__setitem__("clock_mhz", float("inf")), ["'clock_mhz'"])
    board("clock-nan", lambda d: d.__setitem__("clock_mhz", float("nan")), ["'clock_mhz'"])
    board("clock-string", lambda d: d.__setitem__("clock_mhz", "fast"), ["'clock_mhz'"])
    board("oscillator-zero", lambda d: d["pins"]["clock"].__setitem__("mhz", 0), ["'mhz'"])
    board("negative-lut", lambda d: d["resources"].__setitem__("lut", -1), ["'lut'"])
    board("float-dsp", lambda d: d["resources"].__setitem__("dsp", 1.5), ["'dsp'"])
    board("bool-ff", lambda d: d["resources"].__setitem__("ff", True), ["'ff'"])
    board("constraints-dotdot", lambda d: d.__setitem__("constraints", "../ulx3s.lpf"), ["'constraints'"])
    board("constraints-absolute", lambda d: d.__setitem__("constraints", "/etc/ulx3s.lpf"), ["'constraints'"])
    board("pin-injection", lambda d: d["pins"].__setitem__("uart_tx", 'L4"; SITE "X'), ["'uart_tx'"])
    board("pnr-unknown-device", lambda d: d["pnr"].__setitem__("device", "99k"), ["'device'", "99k"])
    board("pnr-option-injection", lambda d: d["pnr"].__setitem__("package", "CABGA381 --pre-pack x.py"),
          ["'package'"])
    board("pnr-extra-key", lambda d: d["pnr"].__setitem__("pre_pack", "evil.py"), ["pre_pack"])
    board("name-mismatch", lambda d: d.__setitem__("name", "other"), ["'name'"])
    board("title-newline", lambda d: d.__setitem__("title", "a\nb"), ["'title'"])
    board("not-a-mapping", lambda d: None, ["mapping"], text="- just\n- a list\n")
    board("invalid-yaml", lambda d: None, ["not valid yaml"], text="name: [unclosed\n")
    board("not-utf8", lambda d: None, ["cannot read"], text=None)
    (root / "boards-not-utf8" / "ulx3s.yaml").write_bytes(b"\xff\xfe\x00name: x\n")
    return cases


def usage_cases(root: Path) -> list[Case]:
    m = str(TFC)
    c = [
        ("unknown-command", ["frobnicate"], ["no such command"]),
        ("unknown-option", ["verify", m, "--bogus"], ["no such option"]),
        ("missing-argument", ["verify"], ["missing argument"]),
        ("option-needs-value", ["verify", m, "--n"], ["requires an argument"]),
        ("n-not-int", ["verify", m, "--n", "ten"], ["--n"]),
        ("verify-n-negative", ["verify", m, "--n", "-1"], ["--n", ">= 0"]),
        ("verify-n-zero", ["verify", m, "--n", "0"], ["nothing to verify"]),
        ("rtl-n-negative", ["rtl", m, "--n", "-1"], ["--n", ">= 0"]),
        ("rtl-target-ii-zero", ["rtl", m, "--target-ii", "0"], ["--target-ii", ">= 1"]),
        ("rtl-target-ii-negative", ["rtl", m, "--target-ii", "-5"], ["--target-ii"]),
        ("rtl-synth-unknown", ["rtl", m, "--synth", "quartus"], ["--synth"]),
        ("cosim-n-negative", ["cosim", m, "--n", "-3"], ["--n"]),
        ("cosim-n-zero", ["cosim", m, "--n", "0"], ["nothing to cosimulate"]),
        ("build-fps-zero", ["build", m, "--target-fps", "0"], ["--target-fps"]),
        ("build-fps-negative", ["build", m, "--target-fps", "-5"], ["--target-fps"]),
        ("build-fps-inf", ["build", m, "--target-fps", "inf"], ["--target-fps", "finite"]),
        ("build-fps-nan", ["build", m, "--target-fps", "nan"], ["--target-fps"]),
        ("build-fps-denormal", ["build", m, "--target-fps", "1e-320"], ["--target-fps"]),
        ("build-clock-zero", ["build", m, "--clock-mhz", "0"], ["--clock-mhz"]),
        ("build-clock-inf", ["build", m, "--clock-mhz", "inf"], ["--clock-mhz"]),
        ("build-out-is-file", ["build", m, "--out", m], ["--out", "not a directory"]),
        ("sweep-workers-zero", ["sweep", "--workers", "0"], ["--workers"]),
        ("sweep-workers-negative", ["sweep", "--workers", "-2"], ["--workers"]),
        ("sweep-wbits-zero", ["sweep", "--wbits", "0"], ["--wbits"]),
        ("sweep-abits-huge", ["sweep", "--abits", "99"], ["--abits"]),
        ("sweep-wbits-text", ["sweep", "--wbits", "two"], ["--wbits", "integers"]),
        ("sweep-epochs-negative", ["sweep", "--epochs", "-1"], ["--epochs"]),
        ("sweep-fps-text", ["sweep", "--target-fps", "fast"], ["--target-fps"]),
        ("sweep-fps-inf", ["sweep", "--target-fps", "100,inf"], ["--target-fps"]),
        ("train-epochs-negative", ["train", "tfc", "--epochs", "-3"], ["--epochs"]),
        ("train-ibits-zero", ["train", "tfc", "--ibits", "0"], ["--ibits"]),
        ("train-seed-negative", ["train", "tfc", "--seed", "-1"], ["--seed"]),
        ("train-wbits-zero", ["train", "tfc", "--wbits", "0", "--epochs", "1", "--out", str(root / "t" / "m.pt")],
         ["bit width"]),
        ("train-unknown-model", ["train", "resnet50", "--epochs", "1", "--out", str(root / "t" / "m.pt")],
         ["resnet50"]),
        ("export-batch-negative", ["export", str(root / "x.pt"), "--batch-size", "-4"], ["--batch-size"]),
        ("board-run-baud-zero", ["board-run", "/dev/null", "--core", m, "--baud", "0"], ["--baud"]),
        ("board-run-n-negative", ["board-run", "/dev/null", "--core", m, "--n", "-1"], ["--n"]),
    ]
    return [Case(f"usage-{name}", argv, 2, words) for name, argv, words in c]


def make_corpus(root: Path) -> list[Case]:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    return [*usage_cases(root), *model_cases(root), *input_cases(root), *checkpoint_cases(root), *board_cases(root)]


if __name__ == "__main__":
    for case in make_corpus(Path(sys.argv[1] if len(sys.argv) > 1 else "bad_inputs_out")):
        print(f"{case.code:3d}  {case.name:40s} {' '.join(case.argv)[:80]}")
