"""The Python API in a script (or a notebook's cells): run a study, read its nets as typed
records, print its transfer curve, then estimate the curve cheaply from the base nets.

    .venv/bin/python examples/api.py [STUDY.toml [OUT [DATA]]]   (from the repository's folder)

STUDY defaults to examples/my-model.toml, OUT to runs/<study name>, DATA to the study's own.
Runtime on 2 cores: about 5 min: the study's 18 nets as `featuretransfer run
examples/my-model.toml` (4.2-4.6 min measured on 2 shared cores under load), then the estimate
(seconds: its base nets are done). A second run finds every net done and takes seconds.
"""

import sys
from pathlib import Path

import featuretransfer as ft

MY_MODEL = Path(__file__).with_name("my-model.toml")


def main(study: str | Path = MY_MODEL, out=None, data=None):
    out = ft.run_study(study, out, data=data)  # trains what is not done; writes the report
    records = ft.load_results(out)  # one ft.Record per net: typed fields, top-1 as a fraction
    base = {r.target: r.top1 for r in records if r.treatment == "base"}
    print(f"{out}: {len(records)} nets; baseB top-1 {base['B']:.3f}")
    for r in sorted(records, key=lambda r: (r.n_copied, r.label)):
        if r.treatment != "base":
            change = 100 * (r.top1 - base[r.target])
            line = f"  n = {r.n_copied}  {r.label:5} top-1 {r.top1:.3f}"
            print(f"{line}  ({change:+.1f} points vs baseB)")
    estimates = ft.estimate(out)  # the base nets are done: only the estimators run
    print(f"estimates (not measurements) in {estimates}; report in {out / 'report'}")


if __name__ == "__main__":
    main(*sys.argv[1:])
