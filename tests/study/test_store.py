"""The store: weights files written atomically, a plan that names its store version (a folder
of another version is refused in one line), and one record schema from the net to the table."""

import pytest
import torch

from featuretransfer import store
from featuretransfer.nets.registry import build_model
from featuretransfer.specs import NetSpec


def test_weights_round_trip_bit_identical(tmp_path):
    model = build_model(NetSpec(width=0.1), 5, seed=0).to(memory_format=torch.channels_last)
    store.save_weights(model.state_dict(), tmp_path / store.WEIGHTS)
    state = store.load_weights(tmp_path / store.WEIGHTS)
    assert set(state) == set(model.state_dict())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert not (tmp_path / (store.WEIGHTS + ".tmp")).exists()


@pytest.mark.parametrize("name", [store.WEIGHTS, "model.pt"])  # a source may be a .pt
def test_damaged_weights_are_one_line_without_library_advice(tmp_path, name):
    (tmp_path / name).write_bytes(b"\x00garbage, not weights")
    with pytest.raises(store.DamagedError) as error:
        store.load_weights(tmp_path / name)
    message = str(error.value)
    assert "damaged weights file" in message and "\n" not in message
    assert "weights_only" not in message  # torch's advice to unpickle it would run its code


def test_a_folder_of_another_store_version_is_refused_in_one_line(tmp_path):
    import json

    (tmp_path / store.PLAN).write_text(json.dumps([{"id": "abc"}]))  # before versions
    with pytest.raises(store.StoreError) as error:
        store.read_plan(tmp_path)
    message = str(error.value)
    assert "written by another version of featuretransfer" in message and "\n" not in message
    assert "--set-aside" in message
    (tmp_path / store.PLAN).write_text(json.dumps({"store_version": 0, "jobs": []}))
    with pytest.raises(store.StoreError, match="store version 0; this one reads 1"):
        store.load_records(tmp_path)
    store.write_plan(tmp_path, [])
    assert store.read_plan(tmp_path) == [] and store.load_records(tmp_path) == []
    assert store.read_plan(tmp_path / "nowhere") is None


def test_results_csv_header_is_the_record_schema(tmp_path, tiny_job):
    """One schema: the columns of results.csv, the fields of record.json's row and the report's
    parser come from record.Record; its names are the JobSpec's."""
    import csv
    import dataclasses

    from featuretransfer.record import COLUMNS, REQUIRED, Record
    from featuretransfer.report.results import load_results
    from featuretransfer.run.job import run_job

    job = tiny_job["baseB"]
    store.write_plan(tmp_path, [job])
    run_job(job, tmp_path)
    table = store.write_results_csv(tmp_path)
    with open(table) as f:
        assert tuple(csv.DictReader(f).fieldnames) == COLUMNS
    (record,) = store.load_records(tmp_path)
    assert {f.name for f in dataclasses.fields(Record)} <= set(record)
    assert {"n_copied", "fine_tune", "seed"} <= set(REQUIRED) | set(COLUMNS)
    assert "n" not in COLUMNS and "fine_tuned" not in COLUMNS  # one name per quantity
    (parsed,) = load_results(table)
    assert Record(**{c: parsed[c] for c in COLUMNS}).label == parsed["label"] == "baseB"
