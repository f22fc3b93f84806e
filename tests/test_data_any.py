"""Data for any model: a bundled dataset, a user's .npz, or random grid inputs; one-line errors."""
import json

import numpy as np
import pytest

from hwkit.data import choose_data, data_key, load_dataset, load_npz, matching_datasets, recorded_dataset
from hwkit.errors import ConfigError


def test_bundled_dataset_chosen_by_the_model_input_shape():
    assert matching_datasets((1, 28, 28)) == ["mnist"]
    assert matching_datasets((784,)) == ["mnist"]          # a flat input takes the images flattened
    assert matching_datasets((1, 8, 8)) == ["digits"] and matching_datasets((1, 40)) == ["mnist1d"]
    s = choose_data("", (1, 8, 8))
    assert (s.kind, s.name, s.count) == ("bundled", "digits", 360) and s.y is not None
    r = choose_data("", (3, 32, 32))
    assert r.kind == "random" and r.x is None and r.count == 0 and "(N, 3, 32, 32)" in r.why
    assert r.record()["labelled"] is False


def test_recorded_dataset_wins_over_the_shape(tmp_path):
    model = tmp_path / "net.onnx"
    model.write_bytes(b"")
    assert recorded_dataset(model) is None
    (tmp_path / "net.json").write_text(json.dumps({"config": {"dataset": "mnist"}}))
    assert recorded_dataset(model) == "mnist"
    assert choose_data("", (784,), model_path=model).why == "recorded with the model"
    # recorded but not fitting the input: the shape decides
    assert choose_data("", (1, 8, 8), model_path=model).name == "digits"


def test_npz_file_labelled_and_not(tmp_path):
    x = np.random.default_rng(0).random((7, 1, 8, 8)).astype(np.float64)
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(7) % 3)
    np.savez(tmp_path / "b.npz", x=x.reshape(7, 64))
    a = choose_data(str(tmp_path / "a.npz"), (1, 8, 8))
    assert a.kind == "file" and a.x.dtype == np.float32 and a.y.tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert len(a.sha256) == 64 and a.record()["count"] == 7
    b = choose_data(str(tmp_path / "b.npz"), (1, 8, 8))
    assert b.y is None and b.x.shape == (7, 1, 8, 8)   # in the model's input shape, for qonnx too
    ds = load_dataset(str(tmp_path / "b.npz"))        # the commands that take a dataset name take the file
    assert ds.x_test.shape == (7, 64) and ds.y_test.tolist() == [-1] * 7 and len(ds.x_train) == 0


def test_shape_that_fits_nothing_is_one_line_naming_both_shapes_and_the_option(tmp_path):
    np.savez(tmp_path / "cifar.npz", x=np.zeros((4, 3, 32, 32), np.float32))
    with pytest.raises(ConfigError) as e:
        choose_data(str(tmp_path / "cifar.npz"), (1, 28, 28))
    msg = str(e.value)
    assert "\n" not in msg and "(N, 3, 32, 32)" in msg and "(N, 1, 28, 28)" in msg and "--data mnist" in msg
    with pytest.raises(ConfigError, match="model input is \\(N, 1, 8, 8\\)"):
        choose_data("mnist", (1, 8, 8))


@pytest.mark.parametrize("bad,words", [
    ("missing", "data file not found"),
    ("no_x", "has no array 'x' (it holds inputs)"),
    ("pickle", "Python objects"),
    ("nan", "2 values of x are NaN"),
    ("strings", "x must hold numbers"),
    ("no_batch", "batch axis"),
    ("y_shape", "y must be integer class labels of shape (3,)"),
    ("y_frac", "whole class labels"),
    ("y_neg", "negative labels"),
    ("npy", "single .npy array"),
    ("garbage", "cannot read"),
])
def test_bad_npz_is_one_config_error_line(tmp_path, bad, words):
    p = tmp_path / "d.npz"
    x = np.zeros((3, 4), np.float32)
    if bad == "no_x":
        np.savez(p, inputs=x)
    elif bad == "pickle":
        np.savez(p, x=np.array([{"a": 1}, None], dtype=object))
    elif bad == "nan":
        x[0, :2] = [np.nan, np.inf]
        np.savez(p, x=x)
    elif bad == "strings":
        np.savez(p, x=np.array([["a"]]))
    elif bad == "no_batch":
        np.savez(p, x=np.zeros(4))
    elif bad == "y_shape":
        np.savez(p, x=x, y=np.zeros((3, 2), np.int64))
    elif bad == "y_frac":
        np.savez(p, x=x, y=np.array([0.5, 1, 2]))
    elif bad == "y_neg":
        np.savez(p, x=x, y=np.array([0, -1, 2]))
    elif bad == "npy":
        with open(p, "wb") as f:
            np.save(f, x)
    elif bad == "garbage":
        p.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ConfigError) as e:
        load_npz(p)
    assert words in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_data_key_follows_the_file_content(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.zeros((2, 4), np.float32))
    k1 = data_key(str(p))
    np.savez(p, x=np.ones((2, 4), np.float32))
    k2 = data_key(str(p))
    assert k1["data"] == k2["data"] == "d.npz" and k1["data_sha256"] != k2["data_sha256"]
    assert data_key("mnist") == {"data": "mnist"} and data_key("") == {"data": "auto"}


def test_build_config_data_key(tmp_path):
    from hwkit.build import BuildConfig, load_config

    assert BuildConfig().data == "" and "data" not in BuildConfig(data="mnist").key_dict()
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 64), np.float32))
    (tmp_path / "b.yaml").write_text("data: d.npz\n")
    assert load_config(tmp_path / "b.yaml").data == str((tmp_path / "d.npz").resolve())
    (tmp_path / "c.yaml").write_text("data: nothing_here\n")
    with pytest.raises(ConfigError, match="field 'data' is 'nothing_here'"):
        load_config(tmp_path / "c.yaml")


def test_cli_data_for_cosim_checks_the_model_input_first(tmp_path):
    from hwkit.data import cli_data
    from hwkit.stages.model import default_model

    model = default_model()   # tfc_w2a2_digits, its .json records digits
    assert cli_data(model, None, 0) == "digits" and cli_data(model, "digits", 10) == "digits"
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 64), np.float32))
    assert cli_data(model, str(tmp_path / "d.npz"), 10) == str(tmp_path / "d.npz")
    with pytest.raises(ConfigError, match="model input is \\(N, 1, 8, 8\\)"):
        cli_data(model, "mnist", 10)
    with pytest.raises(ConfigError, match="neither a bundled dataset"):
        cli_data(model, "cifar10", 10)
