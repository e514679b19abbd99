"""A study from file to plan: the study file (`studyfile.py`; its typed spec `studyspec.py`, its
sections' checks `sections.py`, the auto precision `precision.py`, the check against the data
`datacheck.py`), class splits (`splits.py`), the plan of jobs (`plan.py`, pure), an output
folder's own files (`folder.py`: which study made it, set-aside), its one-writer lock
(`lock.py`) and a pretrained source (`source.py`).

May import nets and data (to check names against their registries), the store and the specs,
never run, analysis or report.
"""
