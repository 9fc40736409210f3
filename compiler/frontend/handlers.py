"""The ONNX ops convflow takes, each with its one handler: handler(ctx, onnx node), ctx a LoweringContext.

Anything not in this table stops the lowering with an UnsupportedOp naming the node and its op type.  The IR node
each handler emits is named in its module's docstring (frontend/ops/*.py).
"""
from __future__ import annotations

from .ops.concat import on_concat
from .ops.elementwise import on_batchnorm, on_elementwise, on_relu
from .ops.linear import on_conv, on_gemm, on_matmul
from .ops.pad import on_pad
from .ops.pool import on_avgpool, on_maxpool
from .ops.quant import on_quant
from .ops.resize import on_resize
from .ops.shape import on_flatten, on_passthrough, on_reshape, on_squeeze, on_transpose, on_unsqueeze
from .ops.softmax import on_softmax

HANDLERS = {
    "Quant": on_quant, "BipolarQuant": on_quant, "Trunc": on_quant,               # -> Requantize, input, weights
    "MatMul": on_matmul, "Gemm": on_gemm,                                         # -> Dense
    "Conv": on_conv,                                                              # -> Conv2D (also 1-D)
    "Mul": on_elementwise, "Add": on_elementwise, "Sub": on_elementwise,          # float ops; Add of two ints -> Add
    "Div": on_elementwise, "Relu": on_relu, "BatchNormalization": on_batchnorm,
    "MaxPool": on_maxpool,                                                        # -> MaxPool
    "AveragePool": on_avgpool, "GlobalAveragePool": on_avgpool,                   # -> SumPool
    "Reshape": on_reshape, "Flatten": on_flatten,                                 # -> Flatten, or layout only
    "Transpose": on_transpose, "Identity": on_passthrough, "Dropout": on_passthrough,
    "Squeeze": on_squeeze, "Unsqueeze": on_unsqueeze,                             # size-1 axes: layout only
    "Concat": on_concat,                                                          # -> Concat
    "Pad": on_pad,                                                                # -> Pad (merged by fold_pads)
    "Resize": on_resize, "Upsample": on_resize,                                   # -> Upsample (nearest, whole)
    "Softmax": on_softmax,                                                        # final only: stays on the host
}
