"""The report of a study, from its records alone: results tables read and checked
(`results.py`), Table 1 and the decomposition (`tables.py`), the paper's observations in words
(`findings.py`), the figures (`figures.py`), the data-volume view (`volume.py`) and the writer
of report/ with index.html (`writer.py`).

Imports only the store and the specs (the ground floor), never the study, run, analysis, nets,
data or torch's training code (pyproject.toml's import contract).
"""
