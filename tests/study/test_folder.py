"""An output folder knows which study made it: one with an edited description is still the same
study; other settings, or a folder of another store version, are refused."""

import dataclasses
import json

import pytest

from featuretransfer.study.folder import FolderError, check_same_study, study_record
from featuretransfer.study.studyfile import load_study, preset_path


def test_a_folder_of_another_store_version_is_refused(tmp_path):
    study = load_study(preset_path("fashion-mnist-smoke"))
    record = study_record(study)
    (tmp_path / "study.json").write_text(json.dumps(record))
    check_same_study(tmp_path, study)  # the same version: no error
    (tmp_path / "study.json").write_text(json.dumps(record | {"store_version": 0}))
    with pytest.raises(FolderError, match="version"):
        check_same_study(tmp_path, study)
    del record["store_version"]  # as every release before the store had a version wrote it
    (tmp_path / "study.json").write_text(json.dumps(record))
    with pytest.raises(FolderError, match="version"):
        check_same_study(tmp_path, study)


def test_the_record_names_every_setting_but_where_files_lie():
    study = load_study(preset_path("fashion-mnist-smoke"))
    record = study_record(study)
    assert "path" not in record["data"] and "path" not in record["net"]
    assert "resources" not in record and "report" not in record
    assert set(record["train"]) == {f.name for f in dataclasses.fields(study.train)}


def test_an_edited_description_is_the_same_study(tmp_path):
    study = load_study(preset_path("fashion-mnist-smoke"))
    (tmp_path / "study.json").write_text(json.dumps(study_record(study) | {"description": "old"}))
    check_same_study(tmp_path, study)  # free text: no error
    changed = study_record(study) | {"description": "old", "seeds": [5]}
    (tmp_path / "study.json").write_text(json.dumps(changed))
    with pytest.raises(FolderError, match="other settings \\(seeds\\)"):
        check_same_study(tmp_path, study)
