"""The Python API, for notebooks and scripts: run a study, read its results, estimate cheaply.

    import featuretransfer as ft

    out = ft.run_study("examples/my-model.toml")     # trains every net, writes the report
    records = ft.load_results(out)                   # one typed Record per finished net
    frame = ft.load_results(out, as_frame=True)      # the same as a pandas DataFrame
    ft.estimate("examples/my-model.toml")            # base nets only, then DIR/estimates/

The command line stays the main entry; these functions take the same steps (steps.py's
`prepare_run`, `train_study`, `prepare_estimate` and `train_bases`: the same checks before
anything trains, the same files), print what runs in one line and progress bars (`progress=False`:
none), and raise instead of exiting: bad input raises one of ERRORS (each with a one-line message
naming the file or key), a bad argument ValueError, failed nets RunError (after the report of the
others is written), and a stop (Ctrl-C, or a notebook's interrupt button) KeyboardInterrupt once
the running nets have saved their checkpoints: call again to go on. Call them from the main
thread (signals are caught there). `import featuretransfer` stays cheap: this module, and torch
with it, loads on first use of one of its names (featuretransfer/__init__.py).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
from pathlib import Path

from featuretransfer import steps
from featuretransfer.analysis.estimate import estimate_study
from featuretransfer.record import COLUMNS, Record
from featuretransfer.report.results import load_results as read_results_table
from featuretransfer.report.writer import write_report
from featuretransfer.run import interrupt
from featuretransfer.study.folder import FolderError
from featuretransfer.study.studyfile import load_study, preset_path
from featuretransfer.study.studyspec import StudySpec

ERRORS = steps.USER_ERRORS  # bad input: the study file, data, model, source or output folder


class RunError(RuntimeError):
    """Nets that failed (an error inside a job), and nets not run because a net they copy from
    failed. The others are finished: `out` holds their results and report."""

    def __init__(self, out: Path, failed: dict[str, str], blocked: list[str]):
        self.out, self.failed, self.blocked = out, failed, blocked
        first = next(iter(failed.values()), "")
        super().__init__(
            f"{len(failed)} nets failed and {len(blocked)} were not run (they copy from a failed "
            f"net); the others are in {out}; first failure: {first}"
        )


def run_study(
    study: str | Path | None = None,
    out: str | Path | None = None,
    *,
    preset: str | None = None,
    data: str | Path | None = None,
    device: str = "auto",
    workers: int = 1,
    threads: int | None = None,
    fuse: int | None = None,
    set_aside: bool = False,
    progress: bool = True,
) -> Path:
    """Train every net of a study (those done before are kept) and write its report, as
    `featuretransfer run` does; returns the output folder (`out`, default runs/<study name>):
    out/results.csv, out/report/index.html.

    `study` is a study file (TOML), else `preset` names a shipped study (default
    fashion-mnist); `data` overrides data.path (a folder, or a CSV file); `device` is auto, cpu,
    cuda or cuda:N; `workers` local processes with `threads` torch threads each; `fuse` nets per
    stacked pass (None: 16 on a GPU, 1 on a CPU); `set_aside` moves an earlier study of other
    settings in `out` aside first (docs/running.md, "--set-aside")."""
    loaded, path = _load(study, preset, data)
    out = _output(out, loaded)
    for name, value in (("workers", workers), ("threads", threads), ("fuse", fuse)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name}={value!r}: give a whole number >= 1")
    resolved = _device(device)
    with contextlib.ExitStack() as hold:  # the output folder's lock, until the report is written
        loaded, jobs, _ = steps.prepare_run(loaded, out, resolved, hold, set_aside)
        if fuse is None:
            fuse = steps.FUSE_ON_GPU if "cuda" in resolved else 1
        options = argparse.Namespace(
            executor="local", address=None, workers=workers, threads=threads
        )
        executor = steps.make_executor(options, loaded)
        with interrupt.stop_on_signals():
            summary = steps.train_study(
                loaded, path, out, jobs, executor, resolved, fuse, None, progress
            )
        if summary.interrupted:
            raise KeyboardInterrupt(f"interrupted: {steps.to_go(jobs, out)}")
        if summary.trained or summary.skipped_done:
            write_report(out)
    if summary.failed or summary.blocked:
        raise RunError(out, summary.failed, summary.blocked)
    return out


def estimate(
    study: str | Path | None = None,
    out: str | Path | None = None,
    *,
    preset: str | None = None,
    data: str | Path | None = None,
    device: str = "auto",
    progress: bool = True,
) -> Path:
    """Train only the base nets (or find them done), then estimate every cut's transfer from
    their features, as `featuretransfer estimate` does; returns out/estimates/ (scores.csv,
    agreement.csv, ...; estimates, not measurements), and writes the report beside it.

    `study` is a study file or a study's output folder (then `out` defaults to that folder),
    else `preset` names a shipped study; `data` and `device` as for `run_study`."""
    if study is not None and Path(study).is_dir():
        if preset is not None:
            raise ValueError("give a study file, a study folder or preset=, not two of them")
        loaded, path = steps.study_of_folder(Path(study), None if data is None else str(data))
        out = Path(out) if out is not None else Path(study)
    else:
        loaded, path = _load(study, preset, data)
        out = _output(out, loaded)
    resolved = _device(device)
    with contextlib.ExitStack() as hold:
        loaded, plan, bases, spec = steps.prepare_estimate(loaded, path, out, resolved, hold)
        summary = steps.train_bases(bases, out, resolved, progress)
        if summary.interrupted:
            raise KeyboardInterrupt(f"interrupted: {steps.to_go(bases, out)}")
        folder = estimate_study(plan, out, spec, resolved)
        write_report(out)
    if summary.failed:
        raise RunError(out, summary.failed, [])
    return folder


def load_results(out: str | Path, *, as_frame: bool = False):
    """The finished nets of a study's output folder (or of a results CSV file), one `Record`
    per row of results.csv in plan order; a pandas DataFrame with the same columns where
    `as_frame` (pandas is not a dependency: pip install pandas). A bad value raises
    ReportError naming the row and column."""
    path = Path(out)
    table = path / "results.csv" if path.is_dir() else path
    if not table.is_file():
        raise FolderError(
            f"{path}: no results.csv; give a study's output folder (made by run_study or "
            "`featuretransfer run`) or a results CSV file"
        )
    records = [_record(row) for row in read_results_table(table)] if _has_rows(table) else []
    if not as_frame:
        return records
    try:
        import pandas
    except ImportError:
        raise ImportError("load_results(as_frame=True) needs pandas: pip install pandas") from None
    rows = [dataclasses.asdict(r) | {"label": r.label} for r in records]
    return pandas.DataFrame(rows, columns=[*COLUMNS, "label"])


# ---- shared steps ----------------------------------------------------------------------------


def _load(study, preset, data) -> tuple[StudySpec, Path]:
    """The study of a file or a preset (default fashion-mnist), as `study_from_args` finds it,
    except that `data` may be a file (a CSV data set's)."""
    if study is not None and preset is not None:
        raise ValueError("give a study file or preset=, not both")
    path = Path(study) if study is not None else preset_path(preset or steps.DEFAULT_PRESET)
    data_path = None if data is None else str(data)
    return load_study(path, data_path=data_path, device=None), path


def _output(out, study: StudySpec) -> Path:
    return _usage(steps.output_dir, argparse.Namespace(out=out), study)


def _device(name: str) -> str:
    return _usage(steps.local_device, name, "device")


def _usage(function, *args):
    """`function(*args)`, with the command line's UsageError raised as ValueError."""
    try:
        return function(*args)
    except steps.UsageError as e:
        raise ValueError(str(e)) from None


def _has_rows(table: Path) -> bool:
    with open(table, newline="", encoding="utf-8-sig", errors="replace") as f:
        return sum(1 for row in csv.reader(f) if row) > 1


def _record(row: dict) -> Record:
    """A Record of a row as report/results.py checked and typed it (by the schema)."""
    return Record(**{column: row[column] for column in COLUMNS})
