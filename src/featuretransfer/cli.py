"""The `featuretransfer` command: run | plan | status | report | estimate | split | presets.

    featuretransfer run [STUDY.toml | --preset NAME] [--out DIR] [--workers N] [--data DIR]
    featuretransfer plan [STUDY.toml | --preset NAME] [--out DIR]
    featuretransfer status DIR
    featuretransfer report DIR | --results FILE.csv --out DIR
    featuretransfer estimate [STUDY.toml | --preset NAME | DIR] [--out DIR] [--data DIR]
    featuretransfer split --classes C --seed S | --groups NAME [--dataset NAME]
    featuretransfer presets

Bad input ends with one line on stderr and exit code 2; nothing finished is touched.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path

import tomllib
import torch

from featuretransfer.analysis.estimate import EstimateSpec, estimate_study
from featuretransfer.analysis.features import EstimateError
from featuretransfer.data.dataset import DataError
from featuretransfer.data.registry import CLASS_NAMES, load_dataset
from featuretransfer.report.writer import ReportError, write_report, write_report_from_csv
from featuretransfer.run.executors import InlineExecutor, ProcessExecutor
from featuretransfer.run.runner import run_jobs
from featuretransfer.specs import NEUTRAL_FIELDS
from featuretransfer.study import store
from featuretransfer.study.plan import PlanError, needs, plan_study
from featuretransfer.study.splits import SplitError, builtin_group_split, random_split
from featuretransfer.study.studyfile import (
    StudyError,
    StudySpec,
    VolumeSpec,
    load_study,
    preset_names,
    preset_path,
)

DEFAULT_PRESET = "fashion-mnist"
# Nets per stacked pass on a GPU (`--fuse auto`). On the 2-core CPU a stack of 7 half-width nets
# ran at 0.52-0.62x the speed of the same nets one by one, so CPUs train nets alone.
FUSE_ON_GPU = 16
USER_ERRORS = (StudyError, DataError, SplitError, PlanError, ReportError, EstimateError)


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(f"{message} (see '{self.prog} --help')")


def study_from_args(args) -> tuple[StudySpec, Path]:
    """The study named by STUDY.toml or --preset (default: the fashion-mnist preset)."""
    if args.study and args.preset:
        raise UsageError("give a study file or --preset, not both")
    path = Path(args.study) if args.study else preset_path(args.preset or DEFAULT_PRESET)
    study = load_study(path, data_path=getattr(args, "data", None))
    return study, path


def output_dir(args, study: StudySpec) -> Path:
    out = Path(args.out) if args.out else Path("runs") / study.name
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for the study's output")
    return out


def study_record(study: StudySpec) -> dict:
    """What identifies a study's output folder: its settings, less where the data lies, and
    less settings added in later versions while they hold their neutral value, so a folder
    written before they existed still counts as the same study."""
    record = json.loads(json.dumps(asdict(study)))
    record["data"].pop("path")
    for (section, name), neutral in NEUTRAL_FIELDS.items():
        if record[section][name] == neutral:
            del record[section][name]
    for key, empty in (("experiments", ()), ("volume", VolumeSpec())):
        if getattr(study, key) == empty:
            del record[key]
    return record


def check_same_study(out: Path, study: StudySpec) -> None:
    """Refuse to mix two studies in one folder: status and report would show both as one."""
    if not (out / "study.json").is_file():
        return
    try:
        existing = json.loads((out / "study.json").read_text())
    except (OSError, json.JSONDecodeError):
        existing = None
    if existing != study_record(study):
        name = existing.get("name") if isinstance(existing, dict) else "?"
        raise UsageError(
            f"{out} holds another study ({name!r}, other settings); give another --out, or "
            f"delete {out / 'study.json'} to add this study's nets to it (finished nets are kept)"
        )


def make_executor(args, study: StudySpec):
    if args.executor == "local":
        if args.address:
            raise UsageError("--address needs --executor ray")
        return InlineExecutor() if args.workers == 1 else ProcessExecutor(args.workers)
    try:  # Ray is an optional extra: imported only when asked for
        from featuretransfer.run.ray_executor import ClusterError, RayExecutor
    except ImportError:
        raise UsageError("--executor ray needs Ray: pip install 'featuretransfer[ray]'") from None
    try:
        return RayExecutor(
            args.address, num_cpus=study.resources.cpus, num_gpus=study.resources.gpus
        )
    except ClusterError as e:
        raise UsageError(str(e)) from None


def pick_device(args, study: StudySpec) -> str:
    """Where jobs train. Ray: "cuda" when the study asks for GPUs (Ray hands each task its
    own). Local: --device, where "auto" takes the GPU if there is one; plain "cuda" on a
    machine with several GPUs gives "cuda:0,cuda:1,...", over which the runner deals jobs."""
    if args.executor == "ray":
        return "cuda" if study.resources.gpus > 0 else "cpu"
    name = args.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name}: use auto, cpu, cuda or cuda:N") from None
    count = torch.cuda.device_count()
    if device.type == "cuda":
        if not count or (device.index is not None and device.index >= count):
            raise UsageError(
                f"--device {name}: this machine has {count} CUDA device(s); "
                "use --device cpu or auto"
            )
    elif device.type != "cpu":
        raise UsageError(f"--device {name}: use auto, cpu, cuda or cuda:N")
    if name == "cuda" and count > 1:
        return ",".join(f"cuda:{i}" for i in range(count))
    return name


def cmd_run(args) -> int:
    study, path = study_from_args(args)
    out = output_dir(args, study)
    if args.workers < 1:
        raise UsageError(f"--workers {args.workers}: give 1 or more worker processes")
    jobs = plan_study(study)
    load_dataset(study.data)  # fail now, with one line, if the data cannot be found or read
    check_same_study(out, study)
    device = pick_device(args, study)
    fuse = FUSE_ON_GPU if "cuda" in device else 1
    if args.fuse != "auto":
        if not args.fuse.isdigit() or int(args.fuse) < 1:
            raise UsageError(f"--fuse {args.fuse}: give auto or a number of nets >= 1")
        fuse = int(args.fuse)
    executor = make_executor(args, study)  # last check: a cluster that does not answer
    try:
        write_study_files(out, path, study)
        print(f"study {study.name}: {len(jobs)} nets, output in {out}", file=sys.stderr)
        summary = run_jobs(
            jobs, out, executor, device=device, show_progress=not args.quiet, fuse=fuse
        )
    finally:
        executor.shutdown()
    print(
        f"trained {len(summary.trained)}, already done {len(summary.skipped_done)}, "
        f"failed {len(summary.failed)}, skipped {len(summary.blocked)}; "
        f"results in {out / 'results.csv'}",
        file=sys.stderr,
    )
    for reason in summary.failed.values():
        print(f"failed: {reason}", file=sys.stderr)
    print(f"report in {write_report(out)}", file=sys.stderr)
    return 1 if summary.failed or summary.blocked else 0


def write_study_files(out: Path, path: Path, study: StudySpec) -> None:
    """out/study.toml (the file as given) and out/study.json (what identifies the study)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        text = path.read_text()
        (out / "study.toml").write_text(text)
        store.write_json(out / "study.json", study_record(study))
    except OSError as e:
        raise UsageError(
            f"cannot write to --out {out}: {e.strerror}; choose a writable folder"
        ) from None


def cmd_estimate(args) -> int:
    """Train only the base nets (or find them DONE), then write DIR/estimates/ and the report."""
    if args.study and Path(args.study).is_dir():  # a study's output folder
        folder = Path(args.study)
        if not (folder / "study.toml").is_file():
            raise UsageError(
                f"{folder} holds no study (no study.toml): give a folder made by 'run'"
            )
        if args.preset:
            raise UsageError("give a study file, a study folder or --preset, not two of them")
        path = folder / "study.toml"
        study = load_study(path, data_path=args.data)
        out = Path(args.out) if args.out else folder
    else:
        study, path = study_from_args(args)
        out = output_dir(args, study)
    plan = plan_study(study)
    # the main experiment's base nets (the data-volume nets on other k are not sources)
    bases = [job for job in plan if job.treatment == "base" and job.data == study.data]
    load_dataset(study.data)  # fail now, with one line, if the data cannot be found or read
    check_same_study(out, study)
    device = pick_device(args, study)
    write_study_files(out, path, study)
    executor = InlineExecutor()
    try:
        summary = run_jobs(bases, out, executor, device=device, show_progress=not args.quiet)
    finally:
        executor.shutdown()
    print(
        f"base nets: trained {len(summary.trained)}, already done {len(summary.skipped_done)}, "
        f"failed {len(summary.failed)}",
        file=sys.stderr,
    )
    for reason in summary.failed.values():
        print(f"failed: {reason}", file=sys.stderr)
    folder = estimate_study(plan, out, EstimateSpec(), device)
    print(f"estimates (not measurements) in {folder}", file=sys.stderr)
    print(f"report in {write_report(out)}", file=sys.stderr)
    return 1 if summary.failed else 0


def cmd_report(args) -> int:
    if args.results:
        if args.dir or not args.out:
            raise UsageError("give either DIR or --results FILE.csv --out DIR")
        folder = write_report_from_csv(Path(args.results), Path(args.out))
    else:
        if not args.dir:
            raise UsageError("give a study's output folder DIR, or --results FILE.csv --out DIR")
        if not (Path(args.dir) / "results.csv").is_file():
            raise UsageError(f"{args.dir} has no results.csv: give a folder made by 'run'")
        folder = write_report(Path(args.dir))
    print(f"report in {folder}")
    return 0


def cmd_plan(args) -> int:
    study, _ = study_from_args(args)
    out = Path(args.out) if args.out else Path("runs") / study.name
    jobs = plan_study(study)
    print(f"{'id':12}  {'name':22} {'treatment':9} {'n':>2} {'fine_tune':9} {'needs':12}  state")
    for job in jobs:
        print(
            f"{job.id:12}  {job.display_name:22} {job.treatment:9} {job.n_copied:>2} "
            f"{str(job.fine_tune).lower():9} {','.join(needs(job)) or '-':12}  "
            f"{store.job_state(out, job.id)}"
        )
    print(f"{len(jobs)} jobs")
    return 0


def cmd_status(args) -> int:
    out = Path(args.dir)
    if not (out / "study.toml").is_file():
        raise UsageError(f"{out} holds no study (no study.toml): give a folder made by 'run'")
    jobs = plan_study(load_study(out / "study.toml"))
    states = {job.id: store.job_state(out, job.id) for job in jobs}
    for state in (store.DONE, store.INCOMPLETE, store.NOT_LAUNCHED):
        names = [job.display_name for job in jobs if states[job.id] == state]
        print(f"{state}: {len(names)}")
        if state != store.DONE and names:
            print("  " + " ".join(names))
    diverged = [r["name"] for r in store.load_records(out) if r["status"] == "diverged"]
    if diverged:
        print(f"diverged: {len(diverged)}\n  " + " ".join(diverged))
    return 0


def cmd_split(args) -> int:
    if (args.groups is None) == (args.classes is None):
        raise UsageError("give either --classes C [--seed S] or --groups NAME")
    if args.groups is not None:
        split = builtin_group_split(args.dataset, args.groups, CLASS_NAMES[args.dataset])
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
    sub.add_argument("dir")
    sub = commands.add_parser("report", help="figures and tables from a study's results")
    sub.add_argument("dir", nargs="?", help="a study's output folder")
    sub.add_argument("--results", help="a results table made elsewhere (CSV)")
    sub.add_argument("--out", help="with --results: where to write report/")
    sub = commands.add_parser("split", help="print a class split as JSON")
    sub.add_argument("--classes", type=int, help="number of classes, for random halves")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--groups", help="a built-in semantic split, e.g. apparel-vs-footwear")
    sub.add_argument("--dataset", default="fashion-mnist", choices=sorted(CLASS_NAMES))
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
        return COMMANDS[args.command](args)
    except (UsageError, *USER_ERRORS) as e:
        print(f"featuretransfer: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "featuretransfer: interrupted; finished jobs are kept, run again to go on",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
