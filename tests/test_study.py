import pytest

from featuretransfer.study import StudyError, load_study, preset_names, preset_path


def write(tmp_path, text: str):
    path = tmp_path / "study.toml"
    path.write_text('name = "t"\n' + text)
    return path


def test_presets_parse():
    assert {"fashion-mnist", "fashion-mnist-smoke"} <= set(preset_names())
    for name in preset_names():
        assert load_study(preset_path(name)).name == name


def test_minimal_study_gets_defaults(tmp_path):
    study = load_study(write(tmp_path, ""))
    assert study.cuts == tuple(range(1, 8)) and study.targets == ("B",)
    assert study.splits[0].A == (0, 1, 3, 7, 8)


def test_group_splits_in_study_file(tmp_path):
    study = load_study(
        write(
            tmp_path,
            """
[[splits]]
groups = "apparel-vs-footwear"
[[splits]]
name = "mine"
A = ["Sandal", 7]
B = ["Bag"]
""",
        )
    )
    assert [s.name for s in study.splits] == ["apparel-vs-footwear", "mine"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("[train\n", "TOML syntax error"),
        ("[train]\nepoch = 3\n", "unknown key train.epoch"),
        ("[train]\nepochs = 'three'\n", "train.epochs = 'three' should be int"),
        ("[train]\nlr = true\n", "train.lr = True should be float"),
        ("[study]\ncuts = [0, 3]\n", "n = 0 is outside 1..7"),
        ("[study]\ncuts = [8]\n", "n = 8 is outside 1..7"),
        ("[study]\ntreatments = ['AnC']\n", "unknown 'AnC'"),
        ("[model]\nname = 'resnet'\n", "model.name = 'resnet' is unknown"),
        ("[data]\nname = 'mnist2'\n", "data.name = 'mnist2' is unknown"),
        ("[[splits]]\nname = 'x'\nA = ['Bag']\nB = ['Bag']\n", "overlap in Bag"),
        ("[[splits]]\nname = 'x'\nA = ['Bags']\nB = ['Coat']\n", "unknown class 'Bags'"),
        ("[[splits]]\ngroups = 'nope'\n", "no built-in group split 'nope'"),
        ("[[splits]]\nseeds = 1\n", "use either seed"),
        ("colour = 1\n", "unknown key 'colour'"),
    ],
)
def test_bad_study_files_name_the_key(tmp_path, text, message):
    with pytest.raises(StudyError, match=message) as error:
        load_study(write(tmp_path, text))
    assert "study.toml" in str(error.value) and "\n" not in str(error.value).strip()


def test_missing_file_and_unknown_preset(tmp_path):
    with pytest.raises(StudyError, match="does not exist"):
        load_study(tmp_path / "nope.toml")
    with pytest.raises(StudyError, match="unknown preset 'nope'"):
        preset_path("nope")
