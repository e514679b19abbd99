"""The first-layer filters of the base nets, drawn as one grid of tiles (report/filters.png):
a net's conv1 weights read from its weights file, each filter scaled to its own range.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: the report runs on headless machines and in tests
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from featuretransfer import store  # noqa: E402
from featuretransfer.report.drawing import no_data, save_one  # noqa: E402
from featuretransfer.report.tables import pick  # noqa: E402


def plot_filters(nets: list[tuple[str, Path | None]], path: Path) -> list[str]:
    """Draw the first-layer filters of each base net as a tiled image; return what was not drawn.

    `nets` holds (title, weights file) pairs. A missing or unreadable file becomes a line in the
    returned list (and a note on the figure) instead of an error: the filters are an illustration,
    and the tables must not depend on weights that another machine may not have.
    """
    mosaics, problems = [], []
    for title, weights in nets:
        try:
            mosaics.append((title, filter_mosaic(first_layer_weight(weights))))
        # torch.load raises many types (pickle, zip, runtime); to us they all mean "unreadable".
        except Exception as err:  # noqa: BLE001
            problems.append(f"{title}: {err}")
    if not mosaics:
        fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
        reasons = "\n".join(problems[:6]) or "the records name no base nets"
        no_data(ax, f"No first-layer filters to draw\n{reasons}", fontsize=9)
        save_one(fig, path)
        return problems
    # as many columns as nets up to 4, and as many rows as they fill: no empty tiles but the
    # last row's; each net 2.6 inches wide, its tile's own aspect high, plus its title
    cols = min(4, len(mosaics))
    rows = math.ceil(len(mosaics) / cols)
    aspect = max(m.shape[0] / m.shape[1] for _, m in mosaics)  # height / width of the tallest
    heading = "First-layer filters of the base nets (each filter scaled to its own range)"
    if problems:
        heading += f"\n{len(problems)} base net(s) not drawn: no readable weights (see index.html)"
    size = (2.6 * cols, (2.6 * aspect + 0.35) * rows + 0.25 * (heading.count("\n") + 1))
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, mosaic) in zip(axes.flat, mosaics):
        ax.imshow(mosaic, interpolation="nearest")
        ax.set_title(title, fontsize=8)
    fig.suptitle(heading, fontsize=10)
    # tight: the saved image is cropped to what is drawn, so no title is ever cut off and no
    # margin is left empty whatever the count of nets
    fig.savefig(path, dpi=150, bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)
    return problems


def first_layer_weight(weights: Path | None) -> np.ndarray:
    """The first 4-D `.weight` tensor of a saved state_dict, [out, in, kh, kw], as float numpy."""
    if weights is None:
        raise ValueError("no weights file in the records")
    if not Path(weights).is_file():
        raise ValueError(f"missing weights file {weights}")
    try:
        state = store.load_weights(weights)
    except ImportError as err:  # everything but this picture works without torch
        raise ValueError("torch is not available to read the weights") from err
    except store.DamagedError as err:
        raise ValueError(f"{err}: run the study again to redo its net") from None
    for key, value in state.items():
        if key.endswith(".weight") and value.ndim == 4:
            return value.detach().float().numpy()
    raise ValueError(f"{weights} has no 4-D '.weight' tensor (no convolutional first layer)")


def filter_mosaic(weight: np.ndarray, pad: int = 1) -> np.ndarray:
    """Tile filters [out, in, kh, kw] into one RGB image, each filter min-max scaled on its own.

    Three input channels are shown as colour, as the paper's Gabor filters and colour blobs are;
    any other count is averaged into grey.
    """
    n_out, n_in, kh, kw = weight.shape
    cols = math.ceil(math.sqrt(n_out))
    rows = math.ceil(n_out / cols)
    image = np.ones((rows * (kh + pad) + pad, cols * (kw + pad) + pad, 3))
    for i, f in enumerate(weight):
        tile = f.transpose(1, 2, 0) if n_in == 3 else np.repeat(f.mean(0)[:, :, None], 3, axis=2)
        low, high = tile.min(), tile.max()
        tile = (tile - low) / (high - low) if high > low else np.full_like(tile, 0.5)
        r, c = divmod(i, cols)
        top, left = pad + r * (kh + pad), pad + c * (kw + pad)
        image[top : top + kh, left : left + kw] = tile
    return image


def filter_nets(records: list[dict], weights_root: Path) -> list[tuple[str, Path | None]]:
    """(title, weights file) of each finished base net, in split order."""
    nets = []
    order = lambda r: (r["split_kind"], r["split"], r["target"], r["seed"] or 0)  # noqa: E731
    for r in sorted(pick(records, "base"), key=order):
        seed = f", seed {r['seed']}" if r["seed"] is not None else ""
        weights = r.get("weights", "")
        path = weights_root / weights if weights else None
        nets.append((f"{r['split']}: base{r['target']}{seed}", path))
    return nets
