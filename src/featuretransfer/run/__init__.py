"""Running a study: one job (`job.py`), training (`train.py`), several nets in one pass
(`fused.py`), the runner over an executor (`runner.py`), and the local (`executors.py`) and Ray
(`ray_executor.py`, imported only when asked for) executors.

May import study, nets, data and the specs, never report or cli.
"""
