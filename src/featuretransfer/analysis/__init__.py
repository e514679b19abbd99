"""Cheap predictions of a study's transfer curve, layer by layer, and what they are checked
against: which net's features are scored on which half's images (`groups.py`), frozen features
at each unit's boundary by forward hooks (`features.py`), transferability estimators on them
(`estimators.py`: LogME, regularised H-score, linear probe, k-NN), linear CKA between layers of
two nets (`similarity.py`) and the maps with their baselines (`maps.py`), rank agreement with
the measured curve beside the depth prior and the seed-to-seed ceiling, over independent units
(`agreement.py`), the transition cut (`transition.py`), the tables of both (`compare.py`), and
the driver that writes DIR/estimates/ (`estimate.py`). docs/estimates.md is the reference.

A sibling of `run`: may import study, nets, data and the specs, never run, report or cli. The
report reads the files it writes, never this package.
"""
