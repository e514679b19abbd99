"""The `featuretransfer` command: run | plan | status | report | estimate | split | presets.

    featuretransfer run [STUDY.toml | --preset NAME] [--out DIR] [--workers N] [--data DIR]
    featuretransfer plan [STUDY.toml | --preset NAME] [--out DIR]
    featuretransfer status [DIR | --preset NAME]
    featuretransfer report DIR | --results FILE.csv --out DIR
    featuretransfer estimate [STUDY.toml | --preset NAME | DIR] [--out DIR] [--data DIR]
    featuretransfer split --classes C --seed S | --groups NAME [--dataset NAME]
    featuretransfer presets
    featuretransfer --version

Bad input ends with one line on stderr and exit code 2; nothing finished is touched. The first
Ctrl-C (SIGINT) or SIGTERM stops `run` cleanly (exit code 130), the second at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import sys
import tomllib
from pathlib import Path

import torch

from featuretransfer import __version__, store
from featuretransfer.analysis.estimate import estimate_study
from featuretransfer.data.registry import DOCUMENTED_CLASSES
from featuretransfer.report.writer import write_report, write_report_from_csv
from featuretransfer.run import interrupt
from featuretransfer.specs import ReportSpec, check_settings
from featuretransfer.status import plan_lines, status_lines
from featuretransfer.steps import (
    DEFAULT_PRESET,
    FUSE_ON_GPU,
    USER_ERRORS,
    UsageError,
    make_executor,
    output_dir,
    pick_device,
    prepare_estimate,
    prepare_run,
    study_of_folder,
    to_go,
    train_bases,
    train_study,
)
from featuretransfer.study.folder import SET_ASIDE
from featuretransfer.study.lock import folder_lock
from featuretransfer.study.plan import plan_study
from featuretransfer.study.precision import resolve_precision
from featuretransfer.study.splits import builtin_group_split, random_split
from featuretransfer.study.studyfile import load_study, preset_names, preset_path
from featuretransfer.study.studyspec import StudyError, StudySpec


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(f"{message} (see '{self.prog} --help')")


def study_from_args(args) -> tuple[StudySpec, Path]:
    """The study named by STUDY.toml or --preset (default: the fashion-mnist preset)."""
    if args.study and args.preset:
        raise UsageError("give a study file or --preset, not both")
    data = getattr(args, "data", None)
    if data is not None and Path(data).expanduser().is_file():
        raise UsageError(f"--data {data} is a file; give the folder that holds the data set")
    path = Path(args.study) if args.study else preset_path(args.preset or DEFAULT_PRESET)
    # train.precision "auto" stays unresolved: each command resolves it for its device
    study = load_study(path, data_path=getattr(args, "data", None), device=None)
    return study, path


def cmd_run(args) -> int:
    study, path = study_from_args(args)
    out = output_dir(args, study)
    if args.workers < 1:
        raise UsageError(f"--workers {args.workers}: give 1 or more worker processes")
    device = pick_device(args, study)
    study, jobs, aside = prepare_run(study, out, device, args.hold, args.set_aside)
    if aside is not None:
        print(f"the earlier study and its other nets are now in {aside}", file=sys.stderr)
    fuse = FUSE_ON_GPU if "cuda" in device else 1
    if args.fuse != "auto":
        if not args.fuse.isdigit() or int(args.fuse) < 1:
            raise UsageError(f"--fuse {args.fuse}: give auto or a number of nets >= 1")
        fuse = int(args.fuse)
    tensorboard = None
    if args.tensorboard:  # an optional extra: imported only when asked for
        from featuretransfer.run.tensorboard import TensorBoardLog, TensorBoardMissing

        try:
            tensorboard = TensorBoardLog(out / "tensorboard", jobs, out)
        except TensorBoardMissing as e:
            raise UsageError(str(e)) from None
        for line in tensorboard.add_finished():  # nets done before: no progress will come
            print(line, file=sys.stderr)
    executor = make_executor(args, study)  # last check: a cluster that does not answer
    try:
        with interrupt.stop_on_signals():  # also while the workers wind down
            summary = train_study(
                study, path, out, jobs, executor, device, fuse, tensorboard, not args.quiet
            )
    except KeyboardInterrupt:  # the second Ctrl-C: out now, workers killed
        print(f"interrupted at once: {to_go(jobs, out)}", file=sys.stderr)
        return 130
    finally:
        if tensorboard is not None:
            tensorboard.close()
    if summary.interrupted:  # no report of a partial study: `report DIR` writes one if wanted
        for reason in summary.failed.values():  # failures from before the stop are real
            print(f"failed: {reason}", file=sys.stderr)
        print(f"interrupted: {to_go(jobs, out)}", file=sys.stderr)
        return 130
    print(
        f"trained {len(summary.trained)}, already done {len(summary.skipped_done)}, "
        f"failed {len(summary.failed)}, skipped {len(summary.blocked)}; "
        f"results in {out / 'results.csv'}",
        file=sys.stderr,
    )
    for reason in summary.failed.values():
        print(f"failed: {reason}", file=sys.stderr)
    if others := store.other_jobs(out, store.plan_entries(jobs)):
        print(
            f"{len(others)} finished nets in {out / 'jobs'} are not part of this study (other "
            "settings); they are not in results.csv or the report",
            file=sys.stderr,
        )
    if summary.trained or summary.skipped_done:
        print(f"report in {write_report(out)}", file=sys.stderr)
    else:
        print("no finished nets: no report", file=sys.stderr)
    return 1 if summary.failed or summary.blocked else 0


def cmd_estimate(args) -> int:
    """Train only the base nets (or find them DONE), then write DIR/estimates/ and the report."""
    if args.study and Path(args.study).is_dir():  # a study's output folder
        if args.preset and (Path(args.study) / "study.toml").is_file():
            raise UsageError("give a study file, a study folder or --preset, not two of them")
        study, path = study_of_folder(Path(args.study), args.data)
        out = Path(args.out) if args.out else Path(args.study)
    else:
        study, path = study_from_args(args)
        out = output_dir(args, study)
    device = pick_device(args, study)
    study, plan, bases, spec = prepare_estimate(study, path, out, device, args.hold)
    summary = train_bases(bases, out, device, not args.quiet)
    if summary.interrupted:
        print(f"interrupted: {to_go(bases, out)}", file=sys.stderr)
        return 130
    print(
        f"base nets: trained {len(summary.trained)}, already done {len(summary.skipped_done)}, "
        f"failed {len(summary.failed)}",
        file=sys.stderr,
    )
    for reason in summary.failed.values():
        print(f"failed: {reason}", file=sys.stderr)
    folder = estimate_study(plan, out, spec, device)
    print(f"estimates (not measurements) in {folder}", file=sys.stderr)
    print(f"report in {write_report(out)}", file=sys.stderr)
    return 1 if summary.failed else 0


def cmd_report(args) -> int:
    if args.results:
        if args.dir or not args.out:
            raise UsageError("give either DIR or --results FILE.csv --out DIR")
        rules = ReportSpec(
            **{k: v for k, v in (("margin", args.margin), ("noise", args.noise)) if v is not None}
        )
        try:
            check_settings(rules, "report")
        except ValueError as e:
            raise UsageError(str(e).replace("report.", "--", 1)) from None
        args.hold.enter_context(folder_lock(Path(args.out), "report"))
        folder = write_report_from_csv(Path(args.results), Path(args.out), args.layers, rules)
    else:
        if args.layers or args.margin is not None or args.noise is not None:
            raise UsageError(
                "--layers, --margin and --noise go with --results; a study folder's settings "
                "are its study file's [report] section"
            )
        if not args.dir:
            raise UsageError("give a study's output folder DIR, or --results FILE.csv --out DIR")
        folder = Path(args.dir)
        if not (folder / store.PLAN).is_file() and not (folder / "results.csv").is_file():
            raise UsageError(f"{folder} holds no study (no plan.json): give a folder made by 'run'")
        args.hold.enter_context(folder_lock(folder, "report"))
        folder = write_report(folder)
    print(f"report in {folder}")
    return 0


def cmd_plan(args) -> int:
    study, _ = study_from_args(args)
    study = resolve_precision(study, "auto")  # as `run` resolves it with its default device
    out = Path(args.out) if args.out else Path("runs") / study.name
    print("\n".join(plan_lines(study, out)))
    return 0


def cmd_status(args) -> int:
    if args.dir and args.preset:
        raise UsageError("give a study's output folder DIR or --preset NAME, not both")
    # like `run`: DIR defaults to runs/<study name>, the study being the default preset
    out = Path(args.dir) if args.dir else Path("runs") / (args.preset or DEFAULT_PRESET)
    if not args.dir:
        preset_path(args.preset or DEFAULT_PRESET)  # an unknown preset is an error that says so
    plan = store.read_plan(out)
    if plan is None:
        raise UsageError(f"{out} holds no study (no plan.json): give a folder made by 'run'")
    print("\n".join(status_lines(out, plan)))
    return 0


def cmd_split(args) -> int:
    if (args.groups is None) == (args.classes is None):
        raise UsageError("give either --classes C [--seed S] or --groups NAME")
    if args.groups is not None:
        split = builtin_group_split(args.dataset, args.groups, DOCUMENTED_CLASSES[args.dataset])
    else:
        split = random_split(args.classes, args.seed)
    print(json.dumps({"A": list(split.A), "B": list(split.B)}))
    return 0


def cmd_presets(args) -> int:
    for name in preset_names():
        try:
            study = load_study(preset_path(name))
        except StudyError:  # a preset of data that are not here (ImageNet): planned with --data
            print(
                f"{name:24}  --data  {tomllib.loads(preset_path(name).read_text())['description']}"
            )
            continue
        print(f"{name:24} {len(plan_study(study)):4} nets  {study.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="featuretransfer", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--version",
        action="version",
        version=f"featuretransfer {__version__} (torch {torch.__version__}, "
        f"Python {platform.python_version()})",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, helptext in (
        ("run", "train every net of a study"),
        ("plan", "print the study's jobs; trains nothing"),
    ):
        sub = commands.add_parser(name, help=helptext)
        sub.add_argument("study", nargs="?", help="study file (TOML)")
        sub.add_argument("--preset", help=f"a shipped study: {', '.join(preset_names())}")
        sub.add_argument("--out", help="output folder (default runs/<study name>)")
        sub.add_argument("--data", help="folder with the data set's files")
        if name == "run":
            sub.add_argument(
                "--workers",
                type=int,
                default=1,
                help="local worker processes (default 1: one process, all cores)",
            )
            sub.add_argument("--executor", choices=("local", "ray"), default="local")
            sub.add_argument("--address", help="with --executor ray: the cluster's HOST:PORT")
            sub.add_argument("--quiet", action="store_true", help="no progress bars")
            sub.add_argument(
                "--set-aside",
                action="store_true",
                help="the output folder holds a study of other settings: move its files and the "
                f"nets this study does not share into DIR/{SET_ASIDE}/<time>/ first",
            )
            sub.add_argument(
                "--threads",
                type=int,
                help="torch threads per net (default: the cores / --workers); a net's numbers "
                "are bit-identical only under the same threads and device",
            )
            sub.add_argument(
                "--tensorboard",
                action="store_true",
                help="write each net's per-epoch metrics as TensorBoard events to "
                "DIR/tensorboard (pip install 'featuretransfer[tensorboard]')",
            )
            sub.add_argument(
                "--fuse",
                default="auto",
                help="train up to N ready nets of one shape as one stacked model (default auto: "
                f"{FUSE_ON_GPU} on a GPU, 1 on a CPU, where stacking is slower)",
            )
            sub.add_argument(
                "--device",
                default="auto",
                help="auto (a GPU if there is one), cpu, cuda or cuda:N; with --workers W, W "
                "jobs share the GPU (plain `cuda` spreads them over every GPU)",
            )
    sub = commands.add_parser(
        "estimate",
        help="train only the base nets, then estimate the transfer curve and CKA maps cheaply",
    )
    sub.add_argument("study", nargs="?", help="study file (TOML) or a study's output folder")
    sub.add_argument("--preset", help=f"a shipped study: {', '.join(preset_names())}")
    sub.add_argument("--out", help="output folder (default: the study folder, or runs/<name>)")
    sub.add_argument("--data", help="folder with the data set's files")
    sub.add_argument("--quiet", action="store_true", help="no progress bars")
    sub.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    sub.set_defaults(executor="local")  # base nets train in this process (pick_device)
    sub = commands.add_parser("status", help="done / unfinished / pending jobs of an output folder")
    sub.add_argument(
        "dir", nargs="?", help=f"a study's output folder (default runs/{DEFAULT_PRESET})"
    )
    sub.add_argument("--preset", help="the output folder runs/NAME of a shipped study")
    sub = commands.add_parser("report", help="figures and tables from a study's results")
    sub.add_argument("dir", nargs="?", help="a study's output folder")
    sub.add_argument("--results", help="a results table made elsewhere (CSV)")
    sub.add_argument("--out", help="with --results: where to write report/")
    sub.add_argument(
        "--layers", type=int, help="with --results: L, for a table without an n_layers column"
    )
    sub.add_argument("--margin", type=float, help="with --results: equivalence margin, points")
    sub.add_argument("--noise", type=float, help="with --results: one net's seed noise, points")
    sub = commands.add_parser("split", help="print a class split as JSON")
    sub.add_argument("--classes", type=int, help="number of classes, for random halves")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--groups", help="a built-in semantic split, e.g. apparel-vs-footwear")
    sub.add_argument("--dataset", default="fashion-mnist", choices=sorted(DOCUMENTED_CLASSES))
    commands.add_parser("presets", help="list the shipped studies")
    return parser


COMMANDS = {
    "run": cmd_run,
    "plan": cmd_plan,
    "status": cmd_status,
    "report": cmd_report,
    "estimate": cmd_estimate,
    "split": cmd_split,
    "presets": cmd_presets,
}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        args = build_parser().parse_args(argv)
        with contextlib.ExitStack() as args.hold:  # what a command holds until it returns
            code = COMMANDS[args.command](args)
        sys.stdout.flush()  # here, where a closed pipe can be caught, not at exit
        return code
    except (UsageError, *USER_ERRORS) as e:
        print(f"featuretransfer: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `plan | head -1`: the reader has all it wanted
        # nothing more may reach the closed pipe, not even the flush at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command ended by a closed pipe
    except KeyboardInterrupt:
        print(
            "featuretransfer: interrupted; finished nets are kept, run the same command to go on",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
