"""An output folder knows which study made it: one written before new settings existed, or with an
edited description, is still the same study; other settings are refused."""

import dataclasses
import json

import pytest

from featuretransfer.study.folder import FolderError, check_same_study, study_record
from featuretransfer.study.studyfile import load_study, preset_path


def test_a_folder_from_before_new_settings_is_the_same_study(tmp_path):
    # the smoke preset: a study the first release could write (no per-split cuts, no volume)
    study = load_study(preset_path("fashion-mnist-smoke"))
    # as on a machine without bf16 units, where "auto" resolves to the first release's fp32
    study = dataclasses.replace(study, train=dataclasses.replace(study.train, precision="fp32"))
    record = study_record(study)
    # a study.json as the first release wrote it: none of the later keys
    assert set(record) == {
        *("name", "description", "data", "net", "train", "splits", "treatments", "cuts"),
        *("targets", "seeds", "resources"),
    }
    assert set(record["data"]) == {"name", "n_val", "val_seed", "n_train_per_class"}
    assert set(record["net"]) == {"name", "width", "init", "dropout"}
    assert set(record["train"]) == {
        *("epochs", "batch_size", "lr", "momentum", "weight_decay", "lr_milestones"),
        *("lr_gamma", "best_k"),
    }
    (tmp_path / "study.json").write_text(json.dumps(record))
    check_same_study(tmp_path, study)  # no error


def test_an_edited_description_is_the_same_study(tmp_path):
    study = load_study(preset_path("fashion-mnist-smoke"))
    (tmp_path / "study.json").write_text(json.dumps(study_record(study) | {"description": "old"}))
    check_same_study(tmp_path, study)  # free text: no error
    changed = study_record(study) | {"description": "old", "seeds": [5]}
    (tmp_path / "study.json").write_text(json.dumps(changed))
    with pytest.raises(FolderError, match="other settings \\(seeds\\)"):
        check_same_study(tmp_path, study)
