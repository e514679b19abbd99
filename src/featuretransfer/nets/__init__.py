"""Layered models and the paper's treatments on them.

`layered.py` (the LayeredNet base: named weight layers by index 1..L), the built-in nets
(`caffe.py`: ConvNet8 and CaffeNet; `resnet.py`; `vit.py`), `registry.py` (MODELS by name,
build_model), `treatments.py` (copy, freeze, re-initialise), and a user's models: `units.py`
(UnitNet: any nn.Module with named units as a layered net), `factory.py` (a factory by import
path), `hf.py` (Hugging Face folders; transformers only when used). Imports only
`featuretransfer.specs` (never data, study, run or report).
"""
