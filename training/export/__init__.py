"""ONNX export of registered models: Optimum export of the bodies, heads in the graph, int8, parity gate.

`postroom export VERSION` writes `<registry>/exports/<version>/` (see `layout`); serving reads it without
torch. Heavy imports (torch, optimum, sentence-transformers) happen inside the functions that need them.
"""
