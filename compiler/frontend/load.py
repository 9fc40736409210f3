"""Loading a model into a cleaned-up QONNX ModelWrapper.

ONNX files are read as they are.  Keras / QKeras models (.h5, .keras, .json + weights files, or a model object in
memory) are read by keras_load.py, rewritten into equal models of fewer layer kinds (keras_rewrites.py) and
converted to QONNX by convflow's own converter (keras_convert.py).  Every model then goes through qonnx's clean-up
(shape inference, constant folding, unique names, Brevitas domains resolved), so that the lowering sees one
canonical form whatever produced the file; Keras models keep their layer names.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from convflow.hw.errors import ModelError

from .keras_load import KERAS_SUFFIXES, is_keras_model, keras_quiet, keras_weights_for, load_keras_file
from .validate import check_structure, check_values, max_elements

QUANT_DOMAINS = ("onnx.brevitas", "finn.custom_op.general", "qonnx.custom_op.general")


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    digest.update(Path(path).read_bytes())
    if Path(path).suffix == ".json":       # a Keras JSON architecture comes with its weights file
        weights = keras_weights_for(Path(path))
        if weights is not None:
            digest.update(weights.read_bytes())
    return digest.hexdigest()


def load_keras_model(path: Path):
    """A QKeras model from .h5 / .keras, or from .json + <stem>_weights.h5 (hls4ml example-models layout)."""
    with keras_quiet():
        return load_keras_file(Path(path))


def keras_to_qonnx(model, name: str | None = None):
    """A Keras / QKeras model object -> onnx.ModelProto with Quant nodes: the Keras-side rewrites
    (keras_rewrites.py), then convflow's per-layer converter (keras_convert.py, which says why not qonnx's)."""
    from .keras_convert import convert_model
    from .keras_load import custom_objects
    from .keras_rewrites import functional, rewrite_model

    why = "it has no layer graph"
    try:
        graph = functional(model)
        config = graph.get_config()
    except Exception as exc:             # a Sequential model never built has no inputs to call its layers on
        config, why = None, f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}"
    if not isinstance(config, dict) or "layers" not in config or not config.get("input_layers"):
        # a subclassed model's config holds no layers
        raise ModelError(f"Keras model {getattr(model, 'name', '')!r} ({type(model).__name__}) cannot be read as a "
                         f"graph of layers ({why}); build it with the functional or Sequential API, with an input "
                         "shape, before compiling")
    model = graph
    return convert_model(rewrite_model(model, custom_objects()), name or model.name)


def clean(proto, keep_names: bool):
    """qonnx's clean-up (shape inference, constant folding, unique names); ``keep_names``: a model whose node names
    are already unique and meaningful (the Keras layers') keeps them instead of qonnx's Conv_0, Quant_3 ..."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import RemoveUnusedTensors
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.util.cleanup import cleanup_model

    model = ModelWrapper(proto)
    if not keep_names:
        return cleanup_model(model)
    for transformation in (InferShapes(), FoldConstants(exclude_op_types=["Quant", "BipolarQuant"]),
                           RemoveUnusedTensors(), InferShapes()):
        model = model.transform(transformation)
    return model


def separate_repeated_inputs(proto):
    """A copy of ``proto`` in which no node reads one tensor twice (Concat(x, x), Add(x, x)): each repeat reads it
    through an Identity instead.  qonnx 0.4's clean-up renames a tensor only where a node reads it first
    (ModelWrapper.rename_tensor), which leaves the repeat reading a name nothing produces.  ``proto`` itself is
    returned when nothing repeats."""
    from onnx import helper

    if all(len(set(n for n in node.input if n)) == len([n for n in node.input if n]) for node in proto.graph.node):
        return proto
    proto = type(proto).FromString(proto.SerializeToString())
    nodes = []
    for node in proto.graph.node:
        seen = set()
        for i, name in enumerate(node.input):
            if name and name in seen:
                again = f"{name}_again_{node.name or len(nodes)}_{i}"
                nodes.append(helper.make_node("Identity", [name], [again], name=again))
                node.input[i] = again
            seen.add(name)
        nodes.append(node)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    return proto


def load_model(source):
    """Path (.onnx, .h5, .keras, .json), an onnx.ModelProto or a Keras model object -> cleaned qonnx ModelWrapper."""
    import onnx

    keep_names = False
    if isinstance(source, onnx.ModelProto):
        proto = source
    elif is_keras_model(source):
        with keras_quiet():
            proto, keep_names = keras_to_qonnx(source), True
    else:
        path = Path(source)
        if not path.is_file():
            raise ModelError(f"{path}: no such model file")
        if path.suffix in KERAS_SUFFIXES:
            with keras_quiet():
                proto, keep_names = keras_to_qonnx(load_keras_file(path)), True
        elif path.suffix == ".onnx":
            try:
                proto = onnx.load(str(path))
            except Exception as exc:  # onnx raises DecodeError and friends
                raise ModelError(f"{path}: not a readable ONNX file ({exc})") from None
        else:
            raise ModelError(f"{path}: unknown model format {path.suffix!r} (want .onnx, .h5, .keras or .json)")
    where = str(source) if isinstance(source, (str, Path)) else "the model"
    check_structure(proto, where, max_elements())          # before ONNX's shape inference, which a stride of 0 crashes
    try:
        model = clean(separate_repeated_inputs(proto), keep_names)
    except Exception as exc:
        raise ModelError(f"qonnx could not clean up the model: {exc}") from None
    if len(model.graph.input) != 1:
        raise ModelError(f"model has {len(model.graph.input)} inputs; convflow takes exactly one")
    if len(model.graph.output) != 1:
        raise ModelError(f"model has {len(model.graph.output)} outputs; convflow takes exactly one")
    check_values(model, max_elements())
    return model
