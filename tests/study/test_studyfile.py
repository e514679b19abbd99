import pytest

from featuretransfer.specs import DataSpec
from featuretransfer.study.studyfile import load_study, preset_names, preset_path
from featuretransfer.study.studyspec import StudyError


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
        ("[data]\nimage_size = -3\n", r"data.image_size = -3 should be >= 0 and <= 4096$"),
        # what a new user tried: every layer got one channel and every net trained to chance
        ("[model]\nwidth = -1\n", r"model.width = -1.0 should be > 0 and <= 16$"),
        ("[model]\ndropout = 1.0\n", r"model.dropout = 1.0 should be >= 0 and < 1$"),
        ("[model]\ninit = 'xavier'\n", r"model.init = 'xavier' should be one of 'kaiming'"),
        ("[train]\nmomentum = 1.5\n", r"train.momentum = 1.5 should be >= 0 and < 1$"),
        ("[train]\nweight_decay = -1e-4\n", r"train.weight_decay = -0.0001 should be >= 0$"),
        ("[train]\nlr_gamma = 2.0\n", r"train.lr_gamma = 2.0 should be > 0 and <= 1$"),
        ("[train]\nlr_milestones = [0]\n", r"train.lr_milestones = \[0\] should each be >= 1$"),
        ("[train]\nprecision = 'fp16'\n", r"train.precision = 'fp16' should be one of"),
        ("[train]\nschedule = 'linear'\n", r"train.schedule = 'linear' should be one of"),
        ("[data]\nnormalize = 'z'\n", r"data.normalize = 'z' should be one of 'mean-std'"),
        ("[data]\nn_val = -5\n", r"data.n_val = -5 should be >= 0$"),
        ("[resources]\ncpus = 0\n", r"resources.cpus = 0.0 should be > 0$"),
        ("[report]\nmargin = 0\n", r"report.margin = 0.0 should be > 0 and <= 100$"),
        ("[report]\nalpha = 0.5\n", r"report.alpha = 0.5 should be > 0 and < 0.5$"),
        ("[study]\nseeds = [-1]\n", r"study.seeds = \[-1\]: each should be >= 0$"),
        # the schedule's keys go together
        ("[train]\nepochs = 6\nlr_milestones = [6]\n", r"6 has no effect with train.epochs = 6"),
        ("[train]\nwarmup_epochs = 1\n", r"train.warmup_epochs is for schedule = .cosine."),
        (
            "[train]\nschedule = 'cosine'\nepochs = 2\nwarmup_epochs = 2\n",
            r"train.warmup_epochs = 2 should be below train.epochs = 2",
        ),
        (
            "[train]\nschedule = 'cosine'\nlr_milestones = [2]\n",
            r"train.lr_milestones is for schedule = .step.",
        ),
    ],
)
def test_a_number_out_of_range_names_its_key(tmp_path, text, message):
    assert_one_line_error(tmp_path, text, message)


def test_every_setting_of_a_study_file_declares_its_range():
    """A new spec field cannot skip the range check: each declares its range or why it has
    none (specs.setting)."""
    import dataclasses

    from featuretransfer.specs import DataSpec, NetSpec, ReportSpec, ResourceSpec, TrainSpec

    for spec in (DataSpec, NetSpec, TrainSpec, ResourceSpec, ReportSpec):
        for f in dataclasses.fields(spec):
            assert f.metadata.get("range"), f"{spec.__name__}.{f.name} declares no range"


def test_data_path_is_relative_to_the_study_file(tmp_path, monkeypatch, fake_data):
    """data.path, like every path in a study file, is read against the file's folder, whatever
    the working folder: a study run from elsewhere reads its own data, not what lies at the same
    relative path there. --data (a command-line argument) is read against the working folder."""
    import shutil

    from featuretransfer.data.registry import fingerprint

    study_dir, elsewhere = tmp_path / "studies", tmp_path / "elsewhere"
    shutil.copytree(fake_data, study_dir / "data" / "fmnist")
    shutil.copytree(fake_data, elsewhere / "data" / "fmnist")
    (elsewhere / "data" / "fmnist" / "t10k-labels-idx1-ubyte.gz").unlink()  # other data
    path = study_dir / "study.toml"
    path.write_text('name = "t"\n[data]\npath = "data/fmnist"\nn_val = 40\n')
    monkeypatch.chdir(elsewhere)
    study = load_study(path)
    assert study.data.path == str(study_dir / "data" / "fmnist")
    own = fingerprint(DataSpec(path=str(study_dir / "data" / "fmnist")))
    assert study.data.fingerprint == own
    with pytest.raises(StudyError, match="t10k-labels"):  # --data: the working folder's
        load_study(path, data_path="data/fmnist")


def test_a_split_of_your_own_needs_a_name(tmp_path):
    assert_one_line_error(
        tmp_path,
        "[[splits]]\nA = ['Bag']\nB = ['Coat']\n",
        r"splits\[0\] gives A and B but no name: your own class groups need name = ",
    )


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


def test_a_one_unit_model_says_it_needs_two(tmp_path):
    (tmp_path / "one.py").write_text(
        "from torch import nn\n\n\ndef build(n_classes, in_channels, image_size):\n"
        "    size = in_channels * image_size**2\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(size, n_classes))\n"
    )
    text = "[model]\nname = 'one:build'\nfile = 'one.py'\nunits = ['1']\n"
    assert_one_line_error(tmp_path, text, r"model.units = \['1'\]: a model needs at least 2 units")


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_precision_resolves_before_any_id(tmp_path, monkeypatch, native, expected):
    """train.precision "auto" (the default) is bf16 where the device has bf16 units, fp32
    elsewhere, before a job id is computed: a machine without bf16 plans exactly the nets of an
    fp32 study, and never reuses bf16 ones."""
    from featuretransfer.study import precision
    from featuretransfer.study.plan import plan_study

    monkeypatch.setattr(precision, "native_bf16", lambda device: native)
    auto = load_study(write(tmp_path, ""))
    assert auto.train.precision == expected
    pinned = load_study(write(tmp_path, f"[train]\nprecision = '{expected}'\n"))
    assert [j.id for j in plan_study(auto)] == [j.id for j in plan_study(pinned)]
    other = "fp32" if expected == "bf16" else "bf16"
    pinned = load_study(write(tmp_path, f"[train]\nprecision = '{other}'\n"))
    assert not {j.id for j in plan_study(auto)} & {j.id for j in plan_study(pinned)}
    unresolved = load_study(write(tmp_path, ""), device=None)
    with pytest.raises(ValueError, match="must be resolved"):
        plan_study(unresolved)
