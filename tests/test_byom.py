"""Bring your own model: Brevitas' bnn_pynq networks (not made by hwkit) through `hwkit build` with no
config, the data they need chosen by their input shape, and errors in the user's own node names."""
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("brevitas_examples.bnn_pynq")

from hwkit.build import BuildConfig, default_flow, run_flow  # noqa: E402
from hwkit.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def tfc(tmp_path_factory):
    from hwkit.zoo.bnn_pynq import export

    return export("tfc_1w1a", tmp_path_factory.mktemp("byom") / "tfc_1w1a.onnx")


def _manifest(out: Path) -> dict:
    return {s["name"]: s for s in json.loads((out / "manifest.json").read_text())["stages"]}


def _golden(out: Path) -> dict:
    d = next(out.glob("*-golden_sim"))
    return json.loads((d / "stage.json").read_text())["result"]


def test_tfc_28x28_data_is_recorded_and_a_new_data_file_reruns_golden_sim_only(tfc, tmp_path):
    """(With no --data the build takes mnist for this input, tested in test_data_any without the 1000-input
    qonnx run.) A labelled file, then an unlabelled one, then the same file name with new content."""
    from hwkit.data import choose_data

    assert choose_data("", (1, 28, 28), model_path=tfc).name == "mnist"
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mine.npz", x=rng.random((12, 1, 28, 28)).astype(np.float32), y=np.arange(12) % 10)
    out = tmp_path / "b"
    cfg = BuildConfig(model=str(tfc), out=str(out), n_vectors=20, data=str(tmp_path / "mine.npz"))
    run_flow(default_flow(), cfg, out, upto="estimate")
    rec = _golden(out)
    assert rec["data"]["kind"] == "file" and rec["data"]["count"] == 12 and rec["test_samples"] == 12
    assert 0.0 <= rec["accuracy_golden"] <= 1.0 and rec["prediction_agreement"] == 1.0
    x = rng.random((30, 784)).astype(np.float32)   # flat, unlabelled
    np.savez(tmp_path / "flat.npz", x=x)
    cfg.data = str(tmp_path / "flat.npz")
    run_flow(default_flow(), cfg, out, upto="estimate")
    ran = {k: v["ran"] for k, v in _manifest(out).items()}
    assert ran == {"export": False, "lower": False, "golden_sim": True, "estimate": False}
    rec = _golden(out)
    assert rec["data"]["name"] == "flat.npz" and rec["data"]["count"] == 30 and len(rec["data"]["sha256"]) == 64
    assert rec["accuracy_golden"] is None and "not measured" in rec["summary"]
    np.savez(tmp_path / "flat.npz", x=x[:10])   # same name, new content: re-run
    run_flow(default_flow(), cfg, out, upto="golden_sim")
    assert _manifest(out)["golden_sim"]["ran"] and _golden(out)["test_samples"] == 10


def test_build_with_data_of_the_wrong_shape_is_one_line(tfc, tmp_path, capsys):
    np.savez(tmp_path / "cifar.npz", x=np.zeros((4, 3, 32, 32), np.float32), y=np.zeros(4, np.int64))
    rc = main(["build", str(tfc), "--data", str(tmp_path / "cifar.npz"), "--out", str(tmp_path / "b")])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error")]
    assert rc == 2 and len(err) == 1
    assert "(N, 3, 32, 32)" in err[0] and "(N, 1, 28, 28)" in err[0] and "--data" in err[0]


def test_verify_takes_data_files_and_streams_in_chunks(tfc, tmp_path, capsys):
    from hwkit.verify import golden_vs_qonnx

    x = np.random.default_rng(1).random((9, 1, 28, 28)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    assert main(["verify", str(tfc), "--n", "0", "--data", str(tmp_path / "x.npz")]) == 0
    assert "x.npz (9, --data" in capsys.readouterr().out
    whole = golden_vs_qonnx(tfc, x_float=x, chunk=100)
    parts = golden_vs_qonnx(tfc, x_float=x, chunk=4)
    assert whole.inputs == parts.inputs == 9 and whole.compared == parts.compared and parts.ok


def test_errors_name_the_users_nodes_after_cleanup(tmp_path):
    """The build's export renames nodes (qonnx cleanup: '/model/block.0/act/Tanh' -> 'Tanh_0'); the
    lowering error names the node as the user's file does."""
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper

    from hwkit.errors import UnsupportedModelError
    from hwkit.sourcenames import source_names

    inits = [helper.make_tensor(n, TensorProto.FLOAT, [], [v]) for n, v in (("s", 0.125), ("z", 0.0), ("b", 8.0))]
    q = helper.make_node("Quant", ["x", "s", "z", "b"], ["xq"], name="/input_quant/export_handler/Quant_11",
                         domain="qonnx.custom_op.general", signed=1, narrow=0, rounding_mode="ROUND")
    t = helper.make_node("Tanh", ["xq"], ["y"], name="/model/block.0/act/Tanh")
    g = helper.make_graph([q, t], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], initializer=inits)
    ModelWrapper(helper.make_model(g)).save(str(tmp_path / "tanh.onnx"))
    out = tmp_path / "b"
    with pytest.raises(UnsupportedModelError) as e:
        run_flow(default_flow(), BuildConfig(model=str(tmp_path / "tanh.onnx"), out=str(out)), out, upto="lower")
    assert str(e.value).startswith("node '/model/block.0/act/Tanh' (Tanh):"), str(e.value)
    names = source_names(next(out.glob("*-export")) / "model.qonnx.onnx")
    assert names["Tanh_0"] == ["/model/block.0/act/Tanh", "Tanh"]
    assert names["Quant_0"] == ["/input_quant/export_handler/Quant_11", "Quant"]


def test_in_source_terms_rewrites_only_known_quoted_names():
    from hwkit.errors import ConfigError, GraphError, in_source_terms

    names = {"Gemm_0": ["/fc/long/path/Gemm", "Gemm"], "Gemm_0_out0": ["/fc/Gemm_output_0", None]}
    err = GraphError("node 'Gemm_0' (Gemm): input 'Gemm_0_out0' (Gemm) and 'other' stay")
    new = in_source_terms(err, names)
    assert type(new) is GraphError
    assert str(new) == "node '/fc/long/path/Gemm' (Gemm): input '/fc/Gemm_output_0' (Gemm) and 'other' stay"
    same = ConfigError("nothing 'known' here")
    assert in_source_terms(same, names) is same and in_source_terms(same, {}) is same


@pytest.mark.slow
def test_cnv_cifar_input_without_data_measures_no_accuracy(tmp_path):
    from hwkit.zoo.bnn_pynq import export

    model = export("cnv_1w1a", tmp_path / "cnv_1w1a.onnx")
    out = tmp_path / "b"
    run_flow(default_flow(), BuildConfig(model=str(model), out=str(out), n_vectors=8), out, upto="estimate")
    rec = _golden(out)
    assert rec["data"]["kind"] == "random" and rec["test_samples"] == 0 and rec["cosim_vectors"] == 8
    assert rec["accuracy_golden"] is None and "(N, 3, 32, 32)" in rec["summary"]
