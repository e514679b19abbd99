"""The report of a study, from its records alone: results tables read and checked
(`results.py`), paired differences over replicates (`evidence.py`, `groups.py`), Table 1 and the
decomposition (`tables.py`) and their text (`table_text.py`), the paper's observations in words
(`findings.py`; a pretrained source's own answer: `source_findings.py`), the figures
(`figures.py`, drawn with `drawing.py`; first-layer filters: `filters.py`), the data-volume view
(`volume.py`), the estimates' section (`estimates*.py`), and the writer of report/
(`writer.py`) with index.html (`page.py`).

Imports only the store and the specs (the ground floor), never the study, run, analysis, nets,
data or torch's training code (pyproject.toml's import contract).
"""
