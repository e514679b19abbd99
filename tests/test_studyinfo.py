"""study.json read back typed: the specs the study file gave, less where files lie; a study.json
that does not fit the specs is refused in one line."""

import dataclasses
import json

import pytest

from featuretransfer.data.registry import class_names
from featuretransfer.study.folder import write_study_files
from featuretransfer.study.plan import plan_study
from featuretransfer.study.precision import resolve_precision
from featuretransfer.study.studyfile import load_study, preset_path
from featuretransfer.studyinfo import StudyInfoError, read_study_info


def test_study_json_reads_back_as_the_studys_specs(tmp_path):
    study = resolve_precision(load_study(preset_path("fashion-mnist")), "cpu")
    write_study_files(tmp_path, preset_path("fashion-mnist"), study, plan_study(study))
    info = read_study_info(tmp_path / "study.json")
    assert info.name == study.name and info.description == study.description
    assert info.data == dataclasses.replace(study.data, path=None, class_names=())
    assert info.net == dataclasses.replace(study.net, path=None)
    assert (info.train, info.splits, info.report) == (study.train, study.splits, study.report)
    assert info.class_names == tuple(class_names(study.data))
    assert info.settings["convergence"] == 2  # every key as written, for the settings table


def test_a_study_json_that_does_not_fit_the_specs_is_refused(tmp_path):
    assert read_study_info(tmp_path / "study.json") is None  # a table made elsewhere: no study
    path = tmp_path / "study.json"
    path.write_text(json.dumps({"name": "s", "train": {"lr": 0.1, "learning_rate": 1}}))
    with pytest.raises(StudyInfoError, match="train: unknown keys learning_rate"):
        read_study_info(path)
    path.write_text("[1, 2]")
    with pytest.raises(StudyInfoError, match="expected a JSON object"):
        read_study_info(path)
    path.write_text(json.dumps({"report": {"margin": 2.0}}))  # what is not written: defaults
    assert read_study_info(path).report.margin == 2.0
