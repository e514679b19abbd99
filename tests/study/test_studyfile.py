import pytest

from featuretransfer.study.studyfile import StudyError, load_study, preset_names, preset_path


def write(tmp_path, text: str):
    path = tmp_path / "study.toml"
    path.write_text('name = "t"\n' + text)
    return path


def test_presets_parse():
    assert {"fashion-mnist", "fashion-mnist-smoke"} <= set(preset_names())
    for name in preset_names():
        if name != "imagenet-caffenet":  # needs its image folder: tests/test_imagenet_preset.py
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
    assert_one_line_error(tmp_path, text, message)


def assert_one_line_error(tmp_path, text: str, message: str) -> None:
    with pytest.raises(StudyError, match=message) as error:
        load_study(write(tmp_path, text))
    assert "study.toml" in str(error.value) and "\n" not in str(error.value).strip()


def test_missing_file_and_unknown_preset(tmp_path):
    with pytest.raises(StudyError, match="does not exist"):
        load_study(tmp_path / "nope.toml")
    with pytest.raises(StudyError, match="unknown preset 'nope'"):
        preset_path("nope")


def test_a_split_may_set_its_own_study_keys(tmp_path):
    study = load_study(
        write(
            tmp_path,
            """
[study]
treatments = ["BnB", "AnB"]
targets = ["A", "B"]
seeds = [0, 1]
[[splits]]
seed = 0
treatments = ["random"]
cuts = [3]
[[splits]]
groups = "apparel-vs-footwear"
seeds = [5]
""",
        )
    )
    s0, apparel = (study.experiment(split) for split in study.splits)
    assert (s0.treatments, s0.cuts, s0.targets, s0.seeds) == (("random",), (3,), ("A", "B"), (0, 1))
    assert apparel.treatments == ("BnB", "AnB") and apparel.cuts == tuple(range(1, 8))
    assert apparel.seeds == (5,)


def test_volume_section(tmp_path):
    text = "[[splits]]\nseed = 0\n[[splits]]\nseed = 1\n[volume]\n"
    default = load_study(write(tmp_path, text + "n_train_per_class = [10, 0]\n")).volume
    assert default.n_train_per_class == (10, 0) and default.seeds is None and default.splits is None
    own = load_study(
        write(tmp_path, text + "n_train_per_class = [5]\nsplits = ['s1']\nseeds = [3]")
    )
    assert own.volume.splits == ("s1",) and own.volume.seeds == (3,)
    assert load_study(write(tmp_path, "")).volume.n_train_per_class == ()


@pytest.mark.parametrize(
    "text, message",
    [
        ("[[splits]]\nseed = 0\n[[splits]]\nseed = 1\ncuts = [9]\n", r"splits\[1\].cuts: n = 9"),
        ("[[splits]]\nseed = 0\ntargets = ['C']\n", r"splits\[0\].targets: unknown 'C'"),
        ("[[splits]]\nseed = 0\nseeds = 1\n", r"splits\[0\].seeds = 1 should be a list of int"),
        ("[[splits]]\ncuts = [1]\n", r"splits\[0\] has keys \['cuts'\]; use either seed"),
        ("[volume]\nn_train_per_class = [10]\nk = 1\n", "unknown key volume.k"),
        ("[volume]\nn_train_per_class = [10, -1]\n", "volume.n_train_per_class = .* >= 1"),
        ("[volume]\nn_train_per_class = []\n", "volume.n_train_per_class = .* >= 1"),
        ("[volume]\nseeds = [0]\n", "volume.n_train_per_class = .* is missing"),
        ("[volume]\nn_train_per_class = [10]\nsplits = ['s9']\n", "volume.splits: unknown 's9'"),
        ("volume = 3\n", r"\[volume\] should be a table"),
    ],
)
def test_bad_split_keys_and_volume_name_the_key(tmp_path, text, message):
    assert_one_line_error(tmp_path, text, message)


@pytest.mark.parametrize(
    "text, message",
    [  # each names the one key that is wrong, with its value and the bound
        ("[train]\nepochs = 0\n", r"train.epochs = 0 should be >= 1$"),
        ("[train]\nbatch_size = -2\n", r"train.batch_size = -2 should be >= 1$"),
        ("[train]\nlr = 0\n", r"train.lr = 0.0 should be > 0$"),
        ("[train]\nbest_k = 0\n", r"train.best_k = 0 should be >= 1$"),
        ("[train]\ncrop_pad = -1\n", r"train.crop_pad = -1 should be >= 0$"),
        ("[train]\nbias_lr_mult = 0\n", r"train.bias_lr_mult = 0.0 should be > 0$"),
        ("[model]\nn_outputs = -1\n", r"model.n_outputs = -1 should be >= 0$"),
        ("[data]\nimage_size = -3\n", r"data.image_size = -3 should be >= 0$"),
    ],
)
def test_a_number_out_of_range_names_its_key(tmp_path, text, message):
    assert_one_line_error(tmp_path, text, message)


@pytest.mark.parametrize(
    "text, message",
    [  # an empty list was silently seed 0 / target B: now it says so
        ("[study]\nseeds = []\n", r"study.seeds = \[\] is empty; give at least one, e.g. \[0\]"),
        ("[study]\ntargets = []\n", r"study.targets = \[\] is empty"),
        ("[[splits]]\nseed = 0\nseeds = []\n", r"splits\[0\].seeds = \[\] is empty"),
        ("[volume]\nn_train_per_class = [10]\nseeds = []\n", r"volume.seeds = \[\] is empty"),
    ],
)
def test_an_empty_list_is_an_error_not_a_default(tmp_path, text, message):
    assert_one_line_error(tmp_path, text, message)


def test_an_image_folder_without_a_path_says_what_to_give(tmp_path):
    assert_one_line_error(
        tmp_path,
        "[data]\nname = 'image-folder'\n",
        r"image-folder needs data.path \(or --data\): the folder that holds train/<class>/",
    )
    assert_one_line_error(
        tmp_path,
        f"[data]\nname = 'image-folder'\npath = '{tmp_path}'\n",
        f"data.path {tmp_path} has no train/ folder",
    )
