"""featuretransfer: how transferable are features in deep neural networks (Yosinski et al. 2014).

Run `featuretransfer run` for the default study, `featuretransfer --help` for the rest. From
Python (a notebook, a script), see featuretransfer/api.py:

    import featuretransfer as ft
    out = ft.run_study("study.toml")   # -> the output folder, with results.csv and report/
    records = ft.load_results(out)     # one typed Record per finished net
    ft.estimate("study.toml")          # base nets only, then the estimated transfer curve
"""

import importlib

__version__ = "0.1.0"

# The API's names, loaded on first use: `import featuretransfer` stays cheap (no torch), and
# the package root imports nothing, so any module may read __version__ without pulling the API
# (and through it the command line and the report) into its imports.
API = ("run_study", "load_results", "estimate", "Record", "RunError", "ERRORS")
__all__ = ["__version__", *API]


def __getattr__(name: str):
    if name in API:
        return getattr(importlib.import_module("featuretransfer.api"), name)
    raise AttributeError(f"module 'featuretransfer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *API])
