"""A float-input model with the data it runs on: the input format a build or a command uses
(``--input-format``, else the default from the data that hwkit.data chooses) and the quantized model. The
format, its grammar and the model pass are in :mod:`hwkit.ir.input_format`; this module adds the data
(kept apart so that lowering does not import the data loaders)."""
from __future__ import annotations

from pathlib import Path

from hwkit.ir.input_format import choose_input_format, insert_input_quant, model_input_shape, quantizes_input

ORIGINAL = "original.qonnx.onnx"  # the build's cleaned model before the input quantizer was put in


def for_data(model, requested: str, data: str = "", model_path=None):
    """``(model, choice, samples)`` for a command or stage: the model with its input quantized as
    ``requested`` or, for a float-input model without a request, as the default from the data
    (hwkit.data.choose_data: ``data``, the recorded dataset, a bundled fit; samples None when the model
    quantizes its input already)."""
    if len(model.graph.input) != 1 or not model.graph.node:  # malformed: the lowering's validation says how
        return model, None, None
    if quantizes_input(model) is not None:
        choose_input_format(model, requested)  # refuses a request for a model that has its quantizer
        return model, None, None
    from hwkit.data import choose_data

    samples = choose_data(data or "", model_input_shape(model), model_path=model_path)
    choice = choose_input_format(model, requested, samples.x)
    return insert_input_quant(model, choice.format), choice, samples


def quantized_copy(model_path, requested: str, out_dir, data: str = "", log=None):
    """For commands that take a model file (``hwkit cosim``): the path of a copy with its input quantized
    (written into ``out_dir``), or ``model_path`` itself when the model quantizes its input already."""
    from hwkit.ir.passes import load

    model, choice, _ = for_data(load(model_path), requested, data, model_path)
    if choice is None:
        return Path(model_path)
    if log is not None:
        log(choice.line())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / (Path(model_path).name.split(".")[0] + ".input_quantized.onnx")
    model.save(str(path))
    return path
