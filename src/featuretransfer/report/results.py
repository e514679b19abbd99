"""Results tables read and checked: one typed record per row, for the report.

`load_results(path)` reads a study's results.csv or a table made elsewhere (another framework,
the original study's logs) and checks every value, raising ReportError with the file, the row
and the column at the first bad one. Records carry the paper's `label` of each network.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
from pathlib import Path

from featuretransfer.report.tables import HALVES, NAN
from featuretransfer.specs import SOURCE

REQUIRED_COLUMNS = ("split", "source", "target", "treatment", "n", "fine_tuned", "top1")
TREATMENTS = ("base", "selffer", "transfer", "random")
SPLIT_KINDS = ("random", "semantic", "source")  # source: the target of a pretrained source
STATUSES = ("done", "diverged")
ROLES = ("main", "volume", "longer")  # specs.JobSpec.role: Figure 2's, other k, trained longer
BOOLEANS = {"true": True, "false": False, "1": True, "0": False}  # also True/False: lowercased


class ReportError(ValueError):
    """Bad report input, said in one line that names the file, the row and the column."""


def load_results(path: Path, n_layers: int | None = None) -> list[dict]:
    """Read and check a results table: one dict per row with typed fields, `row` and `label`.

    `row` is the 1-based data row; `label` the paper's name (baseB, BnB, BnB+, AnB, AnB+, random
    weights). Optional columns and their defaults: split_kind "random"; seed none; n_layers (L, the
    number of transferable layers: without the column, `n_layers` must say it, since the top cut
    L - 1 cannot be told from the cuts a table holds); status "done" ("diverged" rows are listed
    in the report but left out of every mean); weights "" (a weights path relative to the
    table's folder); n_train_per_class 0 (training images per class; 0 = all); train_top1 nan
    (top-1 on the net's own training images); role "main" ("volume": a base net on other k,
    "longer": a base net trained longer, the convergence check); n_classes and n_test none (the
    target's classes, for chance; the test images, for the binomial error of top-1). Other
    columns are kept as text. The file is UTF-8,
    with or without a byte-order mark. Raises ReportError at the first bad value.
    """
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: no such results file")
    with io.StringIO(_read_text(path), newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            expected = ", ".join(REQUIRED_COLUMNS)
            raise ReportError(f"{path}: empty file, expected a header row with columns {expected}")
        reader.fieldnames = [name.strip() for name in reader.fieldnames]
        missing = [repr(c) for c in REQUIRED_COLUMNS if c not in reader.fieldnames]
        if missing:
            raise ReportError(
                f"{path}: header row (line 1) lacks column {', '.join(missing)}; "
                f"required: {', '.join(REQUIRED_COLUMNS)}"
            )
        records = []
        for i, raw in enumerate(reader, start=1):
            where = f"{path}: row {i} (line {reader.line_num})"
            if None in raw:
                raise ReportError(f"{where}: more fields than the header has columns")
            if "n_layers" not in reader.fieldnames:
                if n_layers is None:
                    raise ReportError(
                        f"{path}: no n_layers column: give the nets' number of transferable "
                        "layers L (--layers L; 8 for the paper's net), or add the column"
                    )
                raw["n_layers"] = str(n_layers)
            records.append(_parse_row(raw, where, i))
    if not records:
        raise ReportError(f"{path}: a header but no rows: no finished nets to report on")
    return records


def _read_text(path: Path) -> str:
    """The table's text: UTF-8, with or without the byte-order mark Excel's "CSV UTF-8" writes.
    Any other encoding is refused in one line rather than read as the wrong characters."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ReportError(f"{path}: cannot read it ({e.strerror or e})") from None
    fix = 'save the table as UTF-8 (in Excel: Save As > "CSV UTF-8")'
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ReportError(f"{path}: the table is UTF-16 text, not UTF-8; {fix}")
    if b"\0" in raw:  # no text table holds NUL; UTF-16 without a mark and binary files do
        raise ReportError(f"{path}: not a text table (it holds NUL bytes); {fix}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ReportError(
            f"{path}: line {line}: byte 0x{raw[e.start]:02x} is not UTF-8 (latin-1 or Windows-1252 "
            f"text?); {fix}"
        ) from None


def _parse_row(raw: dict, where: str, row: int) -> dict:
    value = {k: (v or "").strip() for k, v in raw.items()}

    def bad(column: str, problem: str) -> ReportError:
        return ReportError(f"{where}, column '{column}': {problem}")

    r = dict(value, row=row)
    if not value["split"]:
        raise bad("split", "empty split name")
    r["split_kind"] = value.get("split_kind") or "random"
    if r["split_kind"] not in SPLIT_KINDS:
        raise bad("split_kind", f"unknown split kind {r['split_kind']!r}, expected random/semantic")
    treatment = value["treatment"]
    if treatment not in TREATMENTS:
        raise bad("treatment", f"unknown treatment {treatment!r}, expected {'/'.join(TREATMENTS)}")
    target = value["target"]
    if target not in HALVES:
        raise bad("target", f"target must be A or B, got {target!r}")
    source = value["source"] or (target if treatment == "base" else "")
    if treatment == "random":
        source = ""  # random weights come from no source net
    elif treatment in ("base", "selffer") and source != target:
        raise bad("source", f"a {treatment} net has source == target, got {source!r} -> {target}")
    elif treatment == "transfer" and (source not in (*HALVES, SOURCE) or source == target):
        raise bad(
            "source",
            f"a transfer net's source is the other half than {target} or {SOURCE} (a pretrained "
            f"source): {source!r}",
        )
    r["source"] = source

    r["n_layers"] = _int(value.get("n_layers", ""), bad, "n_layers", optional=True)
    n = r["n"] = _int(value["n"], bad, "n")
    top = r["n_layers"] - 1 if r["n_layers"] is not None else None
    if treatment == "base" and n != 0:
        raise bad("n", f"n out of range: a base net has n = 0, got {n}")
    if treatment != "base" and (n < 1 or (top is not None and n > top)):
        allowed = f"1..{top}" if top is not None else "1 or more"
        raise bad("n", f"n out of range: a {treatment} net needs n in {allowed}, got {n}")

    if value["fine_tuned"].lower() not in BOOLEANS:
        raise bad("fine_tuned", f"expected true/false (or 1/0), got {value['fine_tuned']!r}")
    r["fine_tuned"] = BOOLEANS[value["fine_tuned"].lower()]
    r["seed"] = _int(value.get("seed", ""), bad, "seed", optional=True)
    r["seconds"] = _number(value.get("seconds", ""), bad, "seconds")
    r["status"] = value.get("status") or "done"
    if r["status"] not in STATUSES:
        raise bad("status", f"unknown status {r['status']!r}, expected done or diverged")
    top1 = r["top1"] = _score(value["top1"], bad, "top1")
    if r["status"] == "done" and not math.isfinite(top1):
        raise bad("top1", f"a finished net needs a finite score, got {value['top1']!r}")
    per_class = _int(value.get("n_train_per_class", ""), bad, "n_train_per_class", optional=True)
    if per_class is not None and per_class < 0:
        raise bad("n_train_per_class", f"images per class must be 0 (all) or more, got {per_class}")
    r["n_train_per_class"] = per_class or 0
    r["train_top1"] = _score(value.get("train_top1", ""), bad, "train_top1")
    r["role"] = value.get("role") or "main"
    if r["role"] not in ROLES:
        raise bad("role", f"unknown role {r['role']!r}, expected {'/'.join(ROLES)}")
    # chance, the top-1's binomial error, what freezing saves
    for column in ("n_classes", "n_test", "n_parameters", "n_trainable"):
        count = _int(value.get(column, ""), bad, column, optional=True)
        if count is not None and count < (0 if column == "n_trainable" else 1):
            raise bad(column, f"a count must be positive, got {count}")
        r[column] = count
    r["label"] = _label(treatment, r["fine_tuned"], source)
    return r


def _score(text: str, bad, column: str) -> float:
    """An optional top-1 in [0, 1]; nan when empty."""
    try:
        score = float(text) if text else NAN
    except ValueError:
        raise bad(column, f"non-numeric score {text!r}") from None
    if math.isfinite(score) and not 0.0 <= score <= 1.0:
        raise bad(column, f"score {score} is outside [0, 1]: give a fraction, not a percentage")
    return score


def _number(text: str, bad, column: str) -> float:
    """An optional non-negative number (seconds); nan when empty."""
    try:
        number = float(text) if text else NAN
    except ValueError:
        raise bad(column, f"not a number: {text!r}") from None
    if number < 0:
        raise bad(column, f"must be 0 or more, got {number}")
    return number


def _int(text: str, bad, column: str, optional: bool = False) -> int | None:
    if optional and not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise bad(column, f"not an integer: {text!r}") from None


def _label(treatment: str, fine_tuned: bool, source: str = "") -> str:
    """The paper's name of a network: AnA is folded into BnB and BnA into AnB, as the paper does;
    a net whose layers come from a pretrained source is SnB."""
    transfer = "SnB" if source == SOURCE else "AnB"
    names = {"base": "baseB", "selffer": "BnB", "transfer": transfer, "random": "random weights"}
    return names[treatment] + ("+" if fine_tuned and treatment != "base" else "")
