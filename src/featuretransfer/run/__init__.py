"""Running a study: one job (`job.py`) and its folder (`jobfolder.py`: checkpoint, records,
runtime), the epoch loop (`train.py`), the learning-rate schedule (`schedule.py`), the images
and their evaluation (`images.py`), several nets in one pass (`fused.py`), the runner over an
executor (`runner.py`), and the local (`executors.py`) and Ray (`ray_executor.py`, imported only
when asked for) executors.

May import study, nets, data and the specs, never report or cli.
"""
