"""Load any QONNX model, clean it, and reject what we cannot build with a clear error.

`load(path)` returns a cleaned `ModelWrapper` (qonnx cleanup: shape inference, constant
folding that keeps the Quant nodes, unique readable names) after `check_supported`.
Ops whose inputs are all constants (a `Constant` node, TensorNorm's `Pow`/`Sqrt` of its
running variance, shape arithmetic) are not checked: cleanup folds them into initializers,
so only the ops that read activations must be supported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.cleanup import cleanup_model

from qloom.errors import QloomError

# op type -> what we accept of it (shown in the error for anything else)
SUPPORTED_OPS = {
    "Quant": "integer quantizer (any bit width, signed/unsigned/narrow, per-tensor or per-channel scale)",
    "IntQuant": "integer quantizer (alias of Quant)",
    "BipolarQuant": "1-bit bipolar quantizer",
    "Trunc": "truncation after an average pool",
    "MultiThreshold": "thresholding activation (FINN style)",
    "MatMul": "matrix multiply with constant quantized weights",
    "Gemm": "dense layer with constant quantized weights (transA=0)",
    "Conv": "2D convolution with constant quantized weights, any padding/stride, group=1 or depthwise",
    "BatchNormalization": "inference-mode batch norm",
    "Relu": "ReLU",
    "Add": "add a constant (scalar or per channel), or two quantized tensors whose scales are a power of two "
           "apart (a residual add)",
    "Concat": "concatenation of quantized feature maps of one height and width (channels)",
    "Sub": "subtract a constant",
    "Mul": "multiply by a constant",
    "Div": "divide by a constant",
    "Reshape": "reshape (flatten before a dense layer)",
    "Flatten": "flatten",
    "Transpose": "transpose of activations or weights",
    "Squeeze": "squeeze",
    "Unsqueeze": "unsqueeze",
    "MaxPool": "2D max pool after a quantized activation",
    "AveragePool": "2D average pool (with Trunc or a following quantizer)",
    "GlobalAveragePool": "global average pool",
    "Identity": "identity",
    "Dropout": "dropout (inference: identity)",
    "Softmax": "final softmax (classification head, on the host)",
    "ArgMax": "final argmax (hardware label select)",
    "TopK": "final top-k (hardware label select)",
}

QONNX_DOMAIN_OPS = {"Quant", "IntQuant", "BipolarQuant", "Trunc", "MultiThreshold"}


def describe_node(node: onnx.NodeProto) -> str:
    """'Conv node "conv3" (group=2, kernel_shape=[3, 3])' for error messages."""
    attrs = []
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        if isinstance(v, onnx.TensorProto):
            v = "<tensor>"
        attrs.append(f"{a.name}={v}")
    return f'{node.op_type} node "{node.name}"' + (f" ({', '.join(attrs)})" if attrs else "")


def unsupported(node: onnx.NodeProto, why: str) -> QloomError:
    return QloomError(f"cannot build {describe_node(node)}: {why}")


def _read(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise QloomError(f"model file {path} does not exist")
    try:
        # load_external_data: dynamo-exported models keep weights in MODEL.onnx.data beside it
        return onnx.load(str(path), load_external_data=True)
    except Exception as exc:  # onnx raises DecodeError, OSError, ValueError...
        raise QloomError(f"{path} is not a readable ONNX file ({type(exc).__name__}: {exc})") from None


def check_supported(model: ModelWrapper, skip: frozenset = frozenset()) -> None:
    """Every node (but those named in `skip`) is one we can build; one input, one output."""
    g = model.graph
    inits = {i.name for i in g.initializer}
    inputs = [i for i in g.input if i.name not in inits]  # some exporters list weights as inputs
    if len(inputs) != 1 or len(g.output) != 1:
        raise QloomError(
            f"the model has {len(inputs)} inputs and {len(g.output)} outputs; qloom builds "
            "single-input single-output models"
        )
    for node in g.node:
        if node.op_type not in SUPPORTED_OPS and node.name not in skip:
            listing = ", ".join(sorted(SUPPORTED_OPS))
            raise QloomError(
                f"unsupported {describe_node(node)} (it reads activations, not only constants). "
                f"Supported ops: {listing}"
            )
    quantizers = [n for n in g.node if n.op_type in ("Quant", "IntQuant", "BipolarQuant", "MultiThreshold")]
    if not quantizers and not _input_is_integer(model):
        raise QloomError(
            "the model has no Quant/BipolarQuant/MultiThreshold nodes: its weights and activations are "
            "float. Quantize it first: train it with quantization-aware training (`qloom train`, "
            "Brevitas layers) or apply post-training quantization, then export to QONNX"
        )


def _input_is_integer(model: ModelWrapper) -> bool:
    dt = model.get_tensor_datatype(model.graph.input[0].name)
    return dt is not None and dt.is_integer()


def _foldable(model: ModelWrapper) -> frozenset:
    """Names of the nodes that compute only from constants (cleanup's FoldConstants removes them)."""
    known = {i.name for i in model.graph.initializer}
    names = set()
    for node in model.graph.node:  # topological order
        if node.op_type not in QONNX_DOMAIN_OPS and all(not i or i in known for i in node.input):
            names.add(node.name)
            known.update(node.output)
    return frozenset(names)


def _default_opset_first(proto: onnx.ModelProto) -> None:
    """qonnx's FoldConstants runs nodes at `opset_import[0]`: put the standard domain there
    (an exporter listing the qonnx domain first would fold a Pow at opset 1 and fail)."""
    imports = sorted(proto.opset_import, key=lambda o: o.domain not in ("", "ai.onnx"))
    del proto.opset_import[:]
    proto.opset_import.extend(imports)


# ONNX integer element types of a model input -> the qonnx datatype that documents it
_INT_INPUTS = {onnx.TensorProto.UINT8: "UINT8", onnx.TensorProto.INT8: "INT8", onnx.TensorProto.UINT16: "UINT16",
               onnx.TensorProto.INT16: "INT16", onnx.TensorProto.INT32: "INT32"}


def _integer_typed_input(model: ModelWrapper) -> None:
    """An integer-typed input (`x: uint8 -> Cast(to=float)`) becomes a float input documented
    as that integer type, its Casts removed: the same values (|x| < 2^24 is exact in float32),
    and the form FINN uses (a float32 input annotated UINT8) that the float reference can feed."""
    inp = model.graph.input[0]
    elem = inp.type.tensor_type.elem_type
    if elem not in _INT_INPUTS:
        return
    users = [n for n in model.graph.node if inp.name in n.input]
    for node in users:
        if node.op_type != "Cast" or _attr(node, "to") != onnx.TensorProto.FLOAT:
            raise QloomError(f"the model's {_INT_INPUTS[elem]} input {inp.name!r} feeds {describe_node(node)}; "
                             "qloom takes an integer-typed input through Cast(to=FLOAT)")
    for node in users:
        for other in model.graph.node:
            other.input[:] = [inp.name if i == node.output[0] else i for i in other.input]
        model.graph.node.remove(node)
    inp.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    from qonnx.core.datatype import DataType

    model.set_tensor_datatype(inp.name, DataType[_INT_INPUTS[elem]])


def _attr(node: onnx.NodeProto, name: str):
    return next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name), None)


def load(path: str | Path) -> ModelWrapper:
    """Read, clean and check a QONNX model file."""
    path = Path(path)
    proto = _read(path)
    try:
        onnx.checker.check_model(proto)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QloomError(f"{path} is not a valid ONNX model: {first}") from None
    model = ModelWrapper(proto)
    # cleanup's shape inference needs the qonnx domain on the custom ops (foreign exporters vary)
    for node in model.graph.node:
        if node.op_type in QONNX_DOMAIN_OPS and not node.domain.startswith("qonnx"):
            node.domain = "qonnx.custom_op.general"
    _default_opset_first(model.model)
    _integer_typed_input(model)
    check_supported(model, skip=_foldable(model))  # before cleanup renames the nodes
    try:
        model = cleanup_model(model)
    except Exception as exc:
        raise QloomError(f"qonnx cleanup failed on {path}: {type(exc).__name__}: {exc}") from None
    check_supported(model)
    return model


def constant(model: ModelWrapper, name: str) -> np.ndarray | None:
    """The value of a tensor if it is an initializer, else None."""
    return model.get_initializer(name)
