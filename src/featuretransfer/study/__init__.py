"""A study from file to job folders: the study file (`studyfile.py`), class splits (`splits.py`),
the plan of jobs (`plan.py`, pure) and the result store (`store.py`: job folders, results.csv).

May import nets and data (to check names against their registries) and the specs, never run or
report. `store.py` imports nothing of the package but the specs, so the report can read it.
"""
