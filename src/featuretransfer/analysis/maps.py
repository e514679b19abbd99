"""The CKA maps of a study and their per-layer baselines, as rows of similarity.csv.

Kinds (every value linear CKA with the debiased HSIC, similarity.py, on the first n_cka fit
images of the map's target half):

    A-B         baseA against baseB at every pair of layers, once per (split, seed, target)
    S-B         a pretrained source against baseB (layers 1..L-1: the source's head is not
                the checkpoint's), once per (split, seed)
    untrained   baseline: two fresh nets of the study's model (init seeds apart), layer by
                layer, on the same images as the A-B (S-B) map beside it
    seeds       baseline: the target half's base net against the same half's base net of
                another seed of the split, layer by layer; where the study has one seed per
                split it is not measured, and summary.json says so
    fine-tuned  each fine-tuned net against its source net, layer by layer
    selffer     each BnB against baseB, layer by layer (1 up to the cut: copied, frozen)

Untrained nets share nothing but the images and the architecture, so their CKA is what the
input alone gives (high at the first layers, whose features are near-linear maps of the
pixels); two seeds of one half share the data too. A map reads as "the halves share a layer"
only where it is above both. A value that is undefined (a layer without variance over the
images) is written as nan with the reason in `note`.
"""

from __future__ import annotations

from featuretransfer.analysis.groups import BaseGroup, FeatureNet, job_net
from featuretransfer.analysis.similarity import Gram, cka
from featuretransfer.specs import seed_hash

UNTRAINED_SEEDS = (0, 1)  # the two fresh nets of the untrained baseline, hashed with the spec's


def layers_of(net: FeatureNet, n_layers: int) -> int:
    """How many of a net's layers a map compares: all, but 1..L-1 for a pretrained source."""
    return n_layers - 1 if net.kind == "source" else n_layers


def cell(kind, group, a: FeatureNet, b: FeatureNet, n, layer_a, layer_b, x: Gram, y: Gram):
    value, note = cka(x, y), ""
    for net, layer, g in ((a, layer_a, x), (b, layer_b, y)):
        if not g.self_hsic > 0:
            note = f"CKA undefined: {layer} of {net.name} does not vary over the images"
    return {
        "kind": kind,
        "group": group,
        "net_a": a.name,
        "net_b": b.name,
        "n": n,
        "layer_a": layer_a,
        "layer_b": layer_b,
        "cka": value,
        "note": note,
    }


def layer_by_layer(kind, group, a, b, n, cache, target, keep=(True, True)) -> list[dict]:
    """CKA of a's layer i against b's layer i, for the layers both compare; `keep`: whether
    the cache keeps each net's Gram matrices for later maps."""
    grams_a = cache.gram_matrices(a, target, keep[0])
    grams_b = cache.gram_matrices(b, target, keep[1])
    names = cache.layer_names(a)
    count = min(layers_of(a, len(names)), layers_of(b, len(names)))
    return [
        cell(kind, group, a, b, n, names[i], names[i], grams_a[i], grams_b[i]) for i in range(count)
    ]


def between_halves(
    group: BaseGroup, bases: dict, done: set[str], cache, seen: set, notes: list[str], seed: int
) -> list[dict]:
    """The A-B (or S-B) map of the group's split, seed and target, once, with its baselines."""
    key = (group.split.name, group.seed, group.target)
    if key in seen:
        return []
    own = bases.get((group.split.name, group.seed, group.target))
    if group.base.kind == "source":
        other, kind = group.base, "S-B"
    elif group.role == "transfer":
        other, kind = group.base, "A-B"
    else:  # the own group: the other half's base net, if the study has it
        halves = [h for (s, d, h) in bases if (s, d) == key[:2] and h != group.target]
        found = bases.get((group.split.name, group.seed, halves[0])) if halves else None
        other, kind = (job_net(found), "A-B") if found else (None, "")
    if own is None or other is None or own.id not in done:
        return []
    if other.kind == "job" and other.key not in done:
        return []
    seen.add(key)
    mine = job_net(own)
    a, b = (other, mine) if other.job.target == "A" or other.kind == "source" else (mine, other)
    grams_a, grams_b = cache.gram_matrices(a, group.target), cache.gram_matrices(b, group.target)
    names = cache.layer_names(mine)
    count = layers_of(other, len(names))
    rows = [
        cell(kind, group.name, a, b, 0, names[i], names[j], grams_a[i], grams_b[j])
        for i in range(count)
        for j in range(count)
    ]
    untrained = [
        FeatureNet(
            f"untrained:{seed_hash('untrained', s, seed)}:{own.id}",
            f"untrained#{s}",
            own,
            "untrained",
            seed_hash("untrained", s, seed),
        )
        for s in UNTRAINED_SEEDS
    ]
    rows += layer_by_layer(
        "untrained", group.name, *untrained, 0, cache, group.target, (False, False)
    )
    twin = other_seed(own, bases)
    pair = ("seeds", frozenset((own.id, twin.id))) if twin is not None else None
    if twin is None:
        notes.append(f"{group.name}: seeds baseline not measured: one seed per split")
    elif twin.id not in done:
        notes.append(f"{group.name}: seeds baseline not measured: {twin.display_name} not done")
    elif pair not in seen:  # two seeds pair with each other: one baseline, not two
        seen.add(pair)
        twin_net = job_net(twin)
        rows += layer_by_layer(
            "seeds", group.name, mine, twin_net, 0, cache, group.target, (True, False)
        )
    return rows


def other_seed(job, bases: dict):
    """The base net of job's half and split at the next seed of the split (the previous one for
    the last seed), or None where the split has one seed."""
    seeds = sorted(d for (s, d, h) in bases if s == job.split.name and h == job.target)
    if len(seeds) < 2:
        return None
    at = seeds.index(job.seed)
    twin = seeds[at + 1] if at + 1 < len(seeds) else seeds[at - 1]
    return bases[(job.split.name, twin, job.target)]


def treatment_maps(group: BaseGroup, done: set[str], cache, skipped: list[str]) -> list[dict]:
    """Each fine-tuned net against the group's source net, each BnB against baseB."""
    rows = []
    for job in group.jobs:
        kind = "fine-tuned" if job.fine_tune else "selffer" if group.role == "selffer" else ""
        if not kind or job.id not in done:
            continue
        try:  # a treatment net's features serve this map only: not kept
            net = job_net(job)
            rows += layer_by_layer(
                kind, group.name, net, group.base, job.n_copied, cache, group.target, (False, True)
            )
        except ValueError as e:  # EstimateError: its weights cannot be read
            skipped.append(f"CKA maps: {e}")
    return rows
