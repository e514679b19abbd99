"""The transition cut: measured from top-1 and a margin, predicted from scores and a stated
tolerance, and the hits against the best constant guess, each against cases worked by hand."""

import pytest

from featuretransfer.analysis.transition import (
    constant_guess,
    hits,
    measured_transition,
    predicted_transition,
    tolerance,
)


def test_measured_transition_is_the_last_cut_before_the_first_fall():
    base = 0.80  # margin 1 point: a cut is within when top-1 >= 0.79
    falls_at_4 = {1: 0.81, 2: 0.80, 3: 0.795, 4: 0.78, 5: 0.80, 6: 0.70, 7: 0.60}
    assert measured_transition(falls_at_4, base, 1.0, 7) == (3, "")  # 5 recovers: not counted
    assert measured_transition({n: 0.80 for n in range(1, 8)}, base, 1.0, 7) == (7, "")
    assert measured_transition({1: 0.70, 2: 0.80}, base, 1.0, 7) == (0, "")
    assert measured_transition(falls_at_4, base, 2.0, 7) == (5, "")  # a wider margin: deeper


def test_a_transition_the_measured_cuts_do_not_pin_down_is_not_guessed():
    sparse = {1: 0.80, 2: 0.80, 7: 0.60}  # cuts 3-6 not trained: the fall lies somewhere there
    found, note = measured_transition(sparse, 0.80, 1.0, 7)
    assert found is None and note == "not pinned down: cut 3 not measured"
    assert measured_transition({1: 0.5, 7: 0.6}, 0.80, 1.0, 7) == (0, "")  # cut 1 decides
    assert measured_transition({}, 0.80, 1.0, 7)[0] is None
    assert measured_transition({1: 0.8}, float("nan"), 1.0, 7)[0] is None


def test_the_tolerance_is_the_margin_as_a_share_of_the_gain_over_chance():
    assert tolerance(1.0, 5) == pytest.approx(1 / 80)
    assert tolerance(1.0, 2) == pytest.approx(1 / 50)
    assert tolerance(2.0, 10) == pytest.approx(2 / 90)


def test_predicted_transition_compares_gains_over_the_null_cut_by_cut():
    own = {n: 1.0 for n in range(1, 8)}  # the target's own net: gain 1.0 over a null of 0
    relative = 0.0125  # as good when the source keeps >= 0.9875 of it
    source = {1: 1.0, 2: 0.99, 3: 0.9875, 4: 0.98, 5: 1.0, 6: 1.0, 7: 1.0}
    assert predicted_transition(source, own, 0.0, relative, 7) == 3
    assert predicted_transition(own, own, 0.0, relative, 7) == 7  # the same net: every cut
    # counted from the null: a score of 0.5 against 1.0 keeps 0 of the gain over a null of 0.5
    assert predicted_transition({1: 0.5}, {1: 1.0}, 0.5, relative, 1) == 0
    assert predicted_transition({1: 0.5}, {1: 0.5}, 0.5, relative, 1) == 1  # no gain to lose
    assert predicted_transition({1: 1.0}, {}, 0.0, relative, 1) is None  # not scored


def test_hits_and_the_best_constant_guess_by_hand():
    measured = [2, 3, 3, None, 5]
    predicted = [2, 4, 1, 3, 5]
    assert hits(predicted, measured) == {"exact": 2, "within_one": 3, "n_groups": 4}
    guess = constant_guess(measured, 7)
    # exact: guessing 3 hits the two 3s; within one: 2, 3 and 4 each hit three (2, 3, 3 or
    # 3, 3, 5), and the lowest such cut is named
    assert guess["exact"] == 2 and guess["guess_exact"] == 3
    assert guess["within_one"] == 3 and guess["guess_within_one"] == 2
    assert guess["n_groups"] == 4
