"""Cheap predictions of a study's transfer curve, layer by layer, and what they are checked
against: frozen features of a base net after each layer (`features.py`), transferability
estimators on them (`estimators.py`: LogME, regularised H-score, linear probe, k-NN), linear CKA
between layers of two nets (`similarity.py`), rank agreement of each estimator with the measured
AnB and AnB+ (`agreement.py`), and the driver that writes DIR/estimates/ (`estimate.py`).

A sibling of `run`: may import study, nets, data and the specs, never run, report or cli. The
report reads the files it writes, never this package.
"""
