"""featuretransfer: how transferable are features in deep neural networks (Yosinski et al. 2014).

Run `featuretransfer run` for the default study, `featuretransfer --help` for the rest.
"""

__version__ = "0.1.0"
