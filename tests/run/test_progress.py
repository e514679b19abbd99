"""Progress: plain lines where stderr is not a terminal (no carriage return, no ANSI code), at
most one every 30 s while nets train; a study ETA weighted by each net's expected cost
(cost.py), so a study left with cheap nets has less time to go than one left with costly ones."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from featuretransfer.nets.registry import build_model
from featuretransfer.run.cost import ImageCounts, job_flops, layer_flops, prior_costs
from featuretransfer.run.executors import InlineExecutor
from featuretransfer.run.runner import ProgressBars, draws_bars, run_jobs
from featuretransfer.specs import NetSpec


class Clock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_net_costs_what_it_trains(tiny_job):
    flops, images = (1.0,) * 8, ImageCounts(train=100, val=10, test=20)  # 2 epochs
    # base: forward 8 and backward 2 * 8 - 1 per image seen; val per epoch, test; train_top1
    assert job_flops(tiny_job["baseB"], flops, 0, images) == 200 * 23 + 40 * 8 + 100 * 8
    # frozen, layers 1..5 cached: forward 3, backward 2 * 3 - 1; the cache once over 130 images
    assert job_flops(tiny_job["A5B"], flops, 5, images) == 200 * 8 + 40 * 3 + 130 * 5
    assert job_flops(tiny_job["A5B+"], flops, 0, images) == 200 * 23 + 40 * 8  # every layer
    fixed = replace(tiny_job["A5B+"], train=replace(tiny_job["A5B+"].train, steps=10))
    assert job_flops(fixed, flops, 0, images) == 10 * 32 * 23 + 40 * 8  # steps x batch of 32


def test_the_default_net_counts_its_flops_by_layer():
    model = build_model(NetSpec(width=0.5), 5, 0)
    flops = layer_flops(model, (1, 28, 28))
    assert len(flops) == 8 and flops[1] > flops[0] > flops[5] > flops[7] > 0
    assert 9.0e6 < sum(flops) < 9.5e6  # the default net's 9.4 MFLOP per image, less its LRN


def test_frozen_nets_cost_less_than_fine_tuned_ones(tiny_job):
    costs = prior_costs(list(tiny_job.values()))
    cost = {name: costs[job.id] for name, job in tiny_job.items()}
    assert cost["A5B"] < cost["A2B"] < cost["A2B+"] == cost["A5B+"] < cost["baseB"]
    assert cost["R5B"] == cost["A5B"] and cost["B2B+"] == cost["A2B+"]


def eta_after_a_base_net(tiny_job, rest: list[str]) -> float:
    """The study's ETA once its base net is done (10 s), with `rest` still to train."""
    jobs = [tiny_job["baseB"], *(tiny_job[name] for name in rest)]
    clock = Clock()
    bars = ProgressBars(len(jobs), 0, True, prior_costs(jobs), plain=True, clock=clock)
    bars.stream = io.StringIO()
    bars.start(jobs[0])
    clock.now = 10.0
    bars.finish(jobs[0].id)
    return bars.eta.seconds(clock.now)


def test_a_study_left_with_cheap_nets_has_less_time_to_go(tiny_job):
    cheap = eta_after_a_base_net(tiny_job, ["A5B", "B5B", "R5B"])
    costly = eta_after_a_base_net(tiny_job, ["A5B+", "B5B+", "A2B+"])
    assert cheap < costly / 2
    assert 20 < costly < 30  # three nets that cost a little less than the base net each


def test_the_eta_counts_the_running_nets_steps(tiny_job):
    job = tiny_job["baseB"]
    clock = Clock()
    bars = ProgressBars(2, 0, True, {job.id: 1.0, "other": 3.0}, plain=True, clock=clock)
    bars.stream = io.StringIO()
    bars.start(job)
    bars.update(job.id, 0, 100, {})
    assert bars.eta.seconds(clock.now) is None  # nothing trained yet: no rate
    clock.now = 5.0
    bars.update(job.id, 50, 100, {})  # half of cost 1 in 5 s: 3.5 to go at 10 s each
    assert bars.eta.seconds(clock.now) == pytest.approx(35.0)


def test_a_resumed_net_counts_only_the_steps_of_this_run(tiny_job):
    job = tiny_job["baseB"]
    clock = Clock()
    bars = ProgressBars(2, 0, True, {job.id: 1.0, "other": 1.0}, plain=True, clock=clock)
    bars.stream = io.StringIO()
    bars.start(job)
    bars.update(job.id, 50, 100, {})  # resumed at half way
    clock.now = 5.0
    bars.update(job.id, 75, 100, {})  # a quarter in 5 s: 1.25 to go at 20 s each
    assert bars.eta.seconds(clock.now) == pytest.approx(25.0)


def test_the_terminal_bar_shows_the_weighted_eta(tiny_job):
    jobs = [tiny_job["baseB"], tiny_job["A5B"], tiny_job["A5B+"]]
    clock = Clock()
    costs = {jobs[0].id: 10.0, jobs[1].id: 1.0, jobs[2].id: 2.0}
    bars = ProgressBars(3, 0, True, costs, plain=False, clock=clock)
    try:
        bars.start(jobs[0])
        clock.now = 10.0
        bars.finish(jobs[0].id)
        assert "1/3 [" in str(bars.study) and "<00:03," in str(bars.study)  # not 20 s
    finally:
        bars.close()


def test_plain_lines_at_most_every_30_seconds_and_one_per_net(tiny_job):
    job = tiny_job["baseB"]
    clock = Clock()
    bars = ProgressBars(1, 0, True, {job.id: 1.0}, plain=True, clock=clock)
    bars.stream = io.StringIO()
    bars.start(job)
    for second in range(101):  # a step every second for 100 s
        clock.now = float(second)
        bars.update(job.id, second, 100, {})
    bars.finish(job.id)
    bars.close()
    lines = bars.stream.getvalue().splitlines()
    assert len(lines) == 4  # at 30, 60 and 90 s, and the net's end
    assert lines[0] == "[00:30] study 0/1 nets, ? s/net, ETA 01:10: training s0:baseB#0 30%"
    assert lines[-1] == "[01:40] study 1/1 nets, 100.0 s/net, ETA 00:00: s0:baseB#0 done"


def test_a_run_logged_to_a_file_writes_plain_lines(tmp_path, tiny_job, capsys):
    assert not draws_bars(io.StringIO())  # what stderr is under pytest, as in a log file
    jobs = [tiny_job["baseB"], tiny_job["B2B"]]
    run_jobs(jobs, tmp_path, InlineExecutor(threads=1), show_progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b" not in err
    lines = err.splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == ["s0:baseB#0 done", "s0:B2B#0 done"]
    assert lines[1].startswith("[") and " study 2/2 nets, " in lines[1]


def test_quiet_prints_nothing(tmp_path, tiny_job, capsys):
    run_jobs([tiny_job["baseB"]], tmp_path, InlineExecutor(threads=1), show_progress=False)
    assert capsys.readouterr().err == ""


def test_bars_are_drawn_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert draws_bars(Terminal())
