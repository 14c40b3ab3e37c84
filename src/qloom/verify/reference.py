"""The QONNX reference: qonnx's `execute_onnx` on the cleaned model, for a batch of inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.change_batchsize import ChangeBatchSize
from qonnx.transformation.infer_shapes import InferShapes

from qloom import frontend, progress


class Reference:
    """Runs the cleaned QONNX model (the tensor names the IR's TensorRefs point at)."""

    def __init__(self, model: str | Path | ModelWrapper):
        self.model = model if isinstance(model, ModelWrapper) else frontend.load(model)
        self._by_batch: dict[int, ModelWrapper] = {}
        self._graphs = None

    def _model_for(self, n: int) -> ModelWrapper:
        if n not in self._by_batch:
            m = self.model.transform(ChangeBatchSize(n))
            self._by_batch[n] = m.transform(InferShapes())
        return self._by_batch[n]

    def run(self, x: np.ndarray, full: bool = False, batch: int = 250) -> dict[str, np.ndarray]:
        """Output tensor (or every tensor, full=True) for float inputs x (N, ...), in batches."""
        outs: dict[str, list] = {}
        in_name = self.model.graph.input[0].name
        out_name = self.model.graph.output[0].name
        with progress.task("QONNX reference", total=len(x), unit="frames") as shown:  # the slow half of verify ir
            for i in range(0, len(x), batch):
                xb = np.ascontiguousarray(x[i:i + batch], dtype=np.float32)
                ctx = execute_onnx(self._model_for(len(xb)), {in_name: xb}, return_full_exec_context=full)
                keep = ctx if full else {out_name: ctx[out_name]}
                for k, v in keep.items():
                    if isinstance(v, np.ndarray) and v.ndim > 0 and v.shape[0] == len(xb):
                        outs.setdefault(k, []).append(v)
                shown.advance(len(xb))
        return {k: np.concatenate(v) for k, v in outs.items()}

    @property
    def output_name(self) -> str:
        return self.model.graph.output[0].name

    @property
    def graphs(self):
        """The model's structure and constant tensors (weights after their quantizers), for
        the float32 error bounds of `qloom.verify.rounding`."""
        if self._graphs is None:
            from qloom.verify.rounding import Graphs

            m = self._model_for(1)
            in_name = m.graph.input[0].name
            shape = m.get_tensor_shape(in_name)
            ctx = execute_onnx(m, {in_name: np.zeros(shape, dtype=np.float32)}, return_full_exec_context=True)
            g = Graphs(self.model, {})
            g.constants = {k: np.asarray(v) for k, v in ctx.items() if k not in g.dynamic and isinstance(v, np.ndarray)}
            self._graphs = g
        return self._graphs
