"""The user's node and tensor names across qonnx's cleanup, which renames them (GiveUniqueNodeNames:
'/features.0/act_quant/export_handler/BipolarQuant' -> 'BipolarQuant_0'; GiveReadableTensorNames).

The cleaned model carries the map back in its ``metadata_props`` (key :data:`KEY`, JSON
``{cleaned name: [original name, original op type or null for a tensor]}``), so the file in the build
directory explains itself and error messages (:func:`hwkit.errors.in_source_terms`) can name what the
user's file calls things."""
from __future__ import annotations

import json
from pathlib import Path

KEY = "hwkit.source_names"


def cleanup_keeping_names(model, cleanup):
    """``cleanup(model)`` with the renames it made recorded in the result's metadata. Nodes are matched
    through a tag in their ``doc_string`` (which every qonnx transformation copies), restored after."""
    tags = {}
    for i, node in enumerate(model.graph.node):
        tag = f"hwkit-source-{i}"
        tags[tag] = (node.name, node.op_type, list(node.input), list(node.output), node.doc_string)
        node.doc_string = tag
    ios = ([t.name for t in model.graph.input], [t.name for t in model.graph.output])
    try:
        cleaned = cleanup(model)
    finally:
        for node in model.graph.node:
            if node.doc_string in tags:
                node.doc_string = tags[node.doc_string][4]
    names = {}

    def tensor(new, old):
        if new and old and new != old:
            names.setdefault(new, [old, None])

    for node in cleaned.graph.node:
        if node.doc_string not in tags:
            continue
        name, op, ins, outs, doc = tags[node.doc_string]
        node.doc_string = doc
        if node.name != name:
            names[node.name] = [name, op]
        for new, old in zip(node.output, outs):
            tensor(new, old)
        for new, old in zip(node.input, ins):
            tensor(new, old)
    for new, old in zip([t.name for t in cleaned.graph.input], ios[0]):
        tensor(new, old)
    for new, old in zip([t.name for t in cleaned.graph.output], ios[1]):
        tensor(new, old)
    props = cleaned.model.metadata_props
    for i in reversed(range(len(props))):
        if props[i].key == KEY:
            del props[i]
    if names:
        entry = props.add()
        entry.key, entry.value = KEY, json.dumps(names, sort_keys=True)
    return cleaned


def source_names(model_or_path) -> dict:
    """The map recorded by :func:`cleanup_keeping_names` ({} when there is none or it cannot be read)."""
    proto = getattr(model_or_path, "model", model_or_path)
    if isinstance(model_or_path, (str, Path)):
        try:
            import onnx

            proto = onnx.load(str(model_or_path), load_external_data=False)
        except Exception:  # noqa: BLE001 - an unreadable file has its own error already
            return {}
    for prop in getattr(proto, "metadata_props", []):
        if prop.key == KEY:
            try:
                names = json.loads(prop.value)
            except ValueError:
                return {}
            return names if isinstance(names, dict) else {}
    return {}
