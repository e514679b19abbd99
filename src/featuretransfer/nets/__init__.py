"""Layered models and the paper's treatments on them.

`layered.py` (the LayeredNet base: named weight layers by index 1..L), the built-in nets
(`caffe.py`: ConvNet8 and CaffeNet; `resnet.py`), `registry.py` (MODELS by name, build_model), and
`treatments.py` (copy, freeze, re-initialise). Imports only `featuretransfer.specs` (never data,
study, run or report).
"""
