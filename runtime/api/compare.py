"""convflow.compare_to_keras / compare_to_onnx: convflow's per-layer trace (Session.trace) beside the source
model's own layers, and the first layer where they differ, by how much.  A front door like the CLI (it imports
the frontend and TensorFlow when asked); the numbers are compared in runtime/trace.py.

    convflow.compare_to_keras(keras_model, "build/art", x)      # prints the table, returns a Comparison
    cmp.first_difference                                        # LayerDiff of the first differing layer, or None
"""
from __future__ import annotations

import re

import numpy as np

from convflow.runtime import layout
from convflow.runtime.trace import Comparison, LayerDiff, diff_layer, to_ir_layout

# the nodes the Keras converter adds inside a layer L besides L itself (compiler/frontend/keras_graph.py and
# keras_convert.py: the activation's steps, the bias, a pool's scaling): L's output is the last of them
_KERAS_INNER = re.compile(r"_(quant|relu|bias|mul|add|sub|div|area|factor)$")


def _session(artifact):
    from convflow.runtime.session import Session

    return artifact if isinstance(artifact, Session) else Session(artifact)


def _batch(session, x):
    x, _ = session._batch(x)
    return np.asarray(x)


def _real_inputs(session, x: np.ndarray) -> np.ndarray:
    """What the source model is fed: floats as given (source layout), integers as their real values; for a model
    with no input quantiser of its own, the values on the fixed-point grid convflow rounds its input to (else the
    first layer would differ by that rounding alone)."""
    implicit = session.graph.host is not None and session.graph.host.input.implicit
    if not np.issubdtype(x.dtype, np.integer) and not implicit:
        return x.astype(np.float32)
    ints = layout.to_source(session.graph, session.quantize_input(x))
    return (ints * np.asarray(session.input_quantizer.quantizer.scale, np.float64)).astype(np.float32)


def keras_layer_of(names: list, keras_names: set) -> dict:
    """IR node name -> (Keras layer name, whether the node is that layer's last, i.e. holds its output)."""
    owner = {}
    for name in names:
        if name in keras_names:
            owner[name] = name
        else:
            base = _KERAS_INNER.sub("", name)
            if base != name and base in keras_names:
                owner[name] = base
    last = {}
    for name in names:
        if name in owner:
            last[owner[name]] = name
    return {name: (layer, last[layer] == name) for name, layer in owner.items()}


def compare_to_keras(keras_model, artifact, x: np.ndarray, show: bool = True) -> Comparison:
    """Run ``x`` through ``keras_model`` and through the artifact's reference (a path, an Artifact or a Session),
    and compare every layer's output by the Keras layer's name.  A layer differs where a value is half a step of
    its integer grid or more off; returns the Comparison (``.first_difference``) and prints its table unless
    ``show=False``.  ``x``: floats in the model's input domain or integers of its input type, a batch or one
    sample."""
    from tensorflow import keras

    session = _session(artifact)
    x = _batch(session, x)
    trace = session.trace(x)
    keras_names = {layer.name for layer in keras_model.layers}
    graph = session.graph
    owners = keras_layer_of([node.name for node in graph.nodes], keras_names)
    last_node = graph.nodes[-1].name
    taps = {}                                    # IR node -> the Keras tensor it is compared with
    for node in graph.nodes:
        if node.name == last_node:
            # the model's output (before a final softmax, which stays on the host); its floats include the
            # affine of the model's tail that convflow leaves to the host
            out = keras_model.outputs[0]
            if session.softmax and keras_model.layers[-1].name == session.softmax:
                out = keras_model.layers[-1].input
            taps[node.name] = (out, keras_model.layers[-1].name if out is keras_model.outputs[0]
                               else f"{keras_model.layers[-2].name} (before {session.softmax})")
        elif node.name in owners and owners[node.name][1]:
            layer = owners[node.name][0]
            taps[node.name] = (keras_model.get_layer(layer).output, layer)
    probe = keras.Model(keras_model.inputs, [tensor for tensor, _ in taps.values()])
    outputs = probe.predict(_real_inputs(session, x), verbose=0, batch_size=256)
    if not isinstance(outputs, list):
        outputs = [outputs]
    values = dict(zip(taps, outputs))
    result = Comparison(f"Keras model {keras_model.name!r}", len(x))
    for node in graph.nodes:
        layer = trace[node.name]
        if node.name in values:
            other = to_ir_layout(values[node.name], layer.ints.shape[1:], channels_first=False)
            name = taps[node.name][1]
            result.layers.append(diff_layer(layer, other, name) if other is not None else
                                 LayerDiff(node.name, node.op, None, note=f"Keras layer {name} has another size"))
        elif node.name in owners:
            result.layers.append(LayerDiff(node.name, node.op, None,
                                           note=f"inside Keras layer {owners[node.name][0]!r}"))
        else:
            result.layers.append(LayerDiff(node.name, node.op, None, note="no Keras layer of this name"))
    if show:
        print(result.table())
    return result


def compare_to_onnx(onnx_model, artifact, x: np.ndarray, show: bool = True) -> Comparison:
    """Run ``x`` through the (Q)ONNX model (a path, an onnx.ModelProto or a qonnx ModelWrapper; cleaned up as
    compile does, so its tensor names are the artifact's) with qonnx's execution, keeping every intermediate
    tensor, and compare each layer of the artifact's trace with the tensor of the same name (NCHW tensors moved to
    NHWC).  Returns the Comparison and prints its table unless ``show=False``."""
    from qonnx.core.onnx_exec import execute_onnx

    from convflow.compiler.frontend.load import load_model
    from convflow.runtime.backends.qonnx_exec import QonnxBackend, rebatch

    session = _session(artifact)
    x = _batch(session, x)
    trace = session.trace(x)
    model = load_model(onnx_model)
    ints = session.quantize_input(x)
    feed = QonnxBackend(session.artifact).float_inputs(ints)       # the floats the model quantises to ints
    model = rebatch(model, len(x))
    inp = model.graph.input[0].name
    feed = feed.reshape(tuple(model.get_tensor_shape(inp))).astype(np.float32)
    context = execute_onnx(model, {inp: feed}, return_full_exec_context=True)
    graph = session.graph
    produced = {n.name: n.output[0] for n in model.graph.node}
    host = graph.host.output if graph.host is not None else None
    result = Comparison(f"ONNX model {model.graph.name!r}", len(x))
    for node in graph.nodes:
        layer = trace[node.name]
        if node.output == graph.output and host is not None:
            tensor = host.source_output            # the model's output before a final softmax (tail included)
        else:
            tensor = node.output if node.output in context else produced.get(node.name)
        if tensor is None or tensor not in context:
            result.layers.append(LayerDiff(node.name, node.op, None, note="no ONNX tensor of this name"))
            continue
        src = graph.tensors[node.inputs[0]]
        if node.op == "Flatten" and len(src.shape) == 3 and src.shape[0] * src.shape[1] > 1:
            result.layers.append(LayerDiff(node.name, node.op, tensor, note="ONNX flattens NCHW, convflow NHWC: "
                                           "not compared (the next layer's weights are permuted to match)"))
            continue
        other = to_ir_layout(context[tensor], layer.ints.shape[1:], channels_first=True)
        result.layers.append(diff_layer(layer, other, tensor) if other is not None else
                             LayerDiff(node.name, node.op, tensor, note="the ONNX tensor has another size"))
    if show:
        print(result.table())
    return result
