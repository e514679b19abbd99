"""A study from file to job folders: the study file (`studyfile.py`), class splits (`splits.py`),
the plan of jobs (`plan.py`, pure), the result store (`store.py`: job folders, results.csv), an
output folder's own files (`folder.py`: which study made it, set-aside) and a pretrained source
(`source.py`).

May import nets and data (to check names against their registries) and the specs, never run or
report. `store.py` imports nothing of the package but the specs, so the report can read it.
"""
