"""The transition cut: up to which cut a source net's frozen features are as good as the target's
own, measured and as each estimator predicts it.

Measured, per transfer group: the deepest cut n such that the frozen transfer net (AnB, or SnB
from a pretrained source) stays within `margin` points of top-1 of the target's own base net
(baseB) at every cut 1..n; 0 where cut 1 already falls below. It is pinned down only where
every cut from 1 to the first that falls below (or to L-1) was measured; a study that skipped a
cut in between has no measured transition for that group (said, not guessed).

Predicted, per transfer group and estimator, from scores alone (no measured transfer sets any
threshold): at each cut n, the estimator's score of the source net's features, s_src(n), is
compared with its score of the target's own base net's features at the same cut, s_own(n),
both on the target's images. Each score counts from what the estimator gives a layer with no
information (an all-zero layer: `estimators.null_scores`): the gain g = s - s_null. The source
is as good as the own net at n when g_src(n) >= (1 - tolerance) g_own(n), and the predicted
transition is the deepest n with that at every cut 1..n. One tolerance for every estimator,
stated before any net is measured: the margin as a share of the largest gain over chance a
classifier of k classes can have, tolerance = margin / (100 (1 - 1/k)) (1 point of 80 for 5
classes: 1.25%), so a source within the margin of a perfect target is within the tolerance.
The depth prior (score = -n) cannot take part: it scores both nets alike.

Hits: exact (predicted == measured) and within one cut, over the groups with a pinned-down
measured transition, beside the null: the best constant guess in hindsight (the one cut that,
guessed for every group, hits most often; an upper bound on any constant guess).
"""

from __future__ import annotations

import math

NAN = float("nan")


def tolerance(margin: float, n_classes: int) -> float:
    """The relative tolerance of the prediction rule (module docstring)."""
    return margin / (100 * (1 - 1 / max(n_classes, 2)))


def measured_transition(
    top1: dict[int, float], base_top1: float, margin: float, top_cut: int
) -> tuple[int | None, str]:
    """(transition, note): the deepest cut within `margin` points of base_top1 at every cut
    up to it; None, with the reason, where the measured cuts do not pin it down."""
    if not math.isfinite(base_top1):
        return None, "the target's own base net is not measured"
    if not top1:
        return None, "no frozen transfer net measured"
    last = 0
    for n in range(1, top_cut + 1):
        if n not in top1 or not math.isfinite(top1[n]):
            return None, f"not pinned down: cut {n} not measured"
        if top1[n] < base_top1 - margin / 100:
            return last, ""
        last = n
    return last, ""


def predicted_transition(
    source: dict[int, float], own: dict[int, float], null: float, relative: float, top_cut: int
) -> int | None:
    """The deepest cut n with g_src(m) >= (1 - relative) g_own(m) at every m <= n (module
    docstring); None where a score it needs is missing or nan."""
    last = 0
    for n in range(1, top_cut + 1):
        s, o = source.get(n, NAN), own.get(n, NAN)
        if not (math.isfinite(s) and math.isfinite(o)):
            return None
        if s - null < (1 - relative) * (o - null):
            return last
        last = n
    return last


def hits(predicted: list[int | None], measured: list[int | None]) -> dict:
    """exact and within_one hits over the groups where both are known, and n_groups."""
    pairs = [(p, m) for p, m in zip(predicted, measured) if p is not None and m is not None]
    return {
        "exact": sum(p == m for p, m in pairs),
        "within_one": sum(abs(p - m) <= 1 for p, m in pairs),
        "n_groups": len(pairs),
    }


def constant_guess(measured: list[int | None], top_cut: int) -> dict:
    """The best constant guesses in hindsight: exact and within_one hits of the cut that scores
    most of each (the lowest such cut), which cuts they are, and n_groups."""
    known = [m for m in measured if m is not None]
    best = {"exact": (0, 0), "within_one": (0, 0)}
    for guess in range(0, top_cut + 1):
        exact = sum(m == guess for m in known)
        near = sum(abs(m - guess) <= 1 for m in known)
        if exact > best["exact"][0]:
            best["exact"] = (exact, guess)
        if near > best["within_one"][0]:
            best["within_one"] = (near, guess)
    return {
        "exact": best["exact"][0],
        "within_one": best["within_one"][0],
        "n_groups": len(known),
        "guess_exact": best["exact"][1],
        "guess_within_one": best["within_one"][1],
    }
