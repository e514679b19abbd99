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

from featuretransfer.record import DEFAULTS, REQUIRED, TYPES, label
from featuretransfer.report.tables import HALVES, NAN
from featuretransfer.specs import SOURCE

REQUIRED_COLUMNS = REQUIRED  # the schema's (record.Record)
CHOICES = {
    "treatment": ("base", "selffer", "transfer", "random"),
    "target": HALVES,
    "split_kind": ("random", "semantic", "source"),  # source: a pretrained source's target
    "status": ("done", "diverged"),
    "role": ("main", "volume", "longer"),  # specs.JobSpec.role: Figure 2's, other k, longer
}
SCORES = ("top1", "top1_best_k", "val_acc", "train_top1")  # top-1 fractions in [0, 1]
BOOLEANS = {"true": True, "false": False, "1": True, "0": False}  # also True/False: lowercased


class ReportError(ValueError):
    """Bad report input, said in one line that names the file, the row and the column."""


def load_results(path: Path, n_layers: int | None = None) -> list[dict]:
    """Read and check a results table: one dict per row with typed fields, `row` and `label`.

    The columns are record.Record's: the REQUIRED ones (split, source, target, treatment,
    n_copied, fine_tune, top1) must be there, the rest take their defaults where a table lacks
    them (a table made elsewhere). `n_layers` (L) for a table without that column: the top cut
    L - 1 cannot be told from the cuts a table holds. `row` is the 1-based data row; `label` the
    paper's name (baseB, BnB, BnB+, AnB, AnB+, SnB, SnB+, random weights). Columns beyond the
    schema are kept as text. The file is UTF-8, with or without a byte-order mark. Raises
    ReportError at the first bad value.
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
    """One row as a record: every column of the schema (record.Record) typed by its field, or
    its default where the table lacks it; then the checks of what a value may be."""
    value = {k: (v or "").strip() for k, v in raw.items()}

    def bad(column: str, problem: str) -> ReportError:
        return ReportError(f"{where}, column '{column}': {problem}")

    r = dict(value, row=row)
    for column, kind in TYPES.items():
        text = value.get(column, "")
        if not text and column not in REQUIRED:
            r[column] = DEFAULTS[column]
        elif kind == "bool":
            if text.lower() not in BOOLEANS:
                raise bad(column, f"expected true/false (or 1/0), got {text!r}")
            r[column] = BOOLEANS[text.lower()]
        elif kind.startswith("int"):
            r[column] = _int(text, bad, column)
        elif kind == "float":
            number = _score if column in SCORES else _number
            r[column] = number(text, bad, column)
        else:
            r[column] = text
    if not r["split"]:
        raise bad("split", "empty split name")
    for column, allowed in CHOICES.items():
        if r[column] not in allowed:
            words = column.replace("_", " ")
            raise bad(column, f"unknown {words} {r[column]!r}, expected {'/'.join(allowed)}")
    treatment, target = r["treatment"], r["target"]
    source = r["source"] or (target if treatment == "base" else "")
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
    n, top = r["n_copied"], (r["n_layers"] - 1 if r["n_layers"] is not None else None)
    if treatment == "base" and n != 0:
        raise bad("n_copied", f"out of range: a base net has n_copied = 0, got {n}")
    if treatment != "base" and (n < 1 or (top is not None and n > top)):
        allowed = f"1..{top}" if top is not None else "1 or more"
        raise bad("n_copied", f"out of range: a {treatment} net needs {allowed}, got {n}")
    if r["status"] == "done" and not math.isfinite(r["top1"]):
        raise bad("top1", f"a finished net needs a finite score, got {value['top1']!r}")
    if r["n_train_per_class"] < 0:
        raise bad(
            "n_train_per_class", f"must be 0 (all images) or more, got {r['n_train_per_class']}"
        )
    if r["n_trainable"] is not None and r["n_trainable"] < 0:
        raise bad("n_trainable", f"must be 0 or more, got {r['n_trainable']}")
    for column in ("n_classes", "n_test", "n_parameters"):
        if r[column] is not None and r[column] < 1:
            raise bad(column, f"a count must be 1 or more, got {r[column]}")
    r["label"] = label(treatment, r["fine_tune"], source)
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


def _int(text: str, bad, column: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise bad(column, f"not an integer: {text!r}") from None
