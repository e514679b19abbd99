"""Hub models by id, offline: a tiny ViT in a hub cache the test builds (hub_cache.py), with
HF_HUB_OFFLINE=1, so nothing is downloaded. The id resolves to its commit, which enters the ids
and study.json; remote code and pickle-only weights are refused; the source's image processor
normalises the inputs unless the study says otherwise."""

import json
import shutil

import pytest
import torch

transformers = pytest.importorskip("transformers")
pytest.importorskip("huggingface_hub")

from hub_cache import (  # noqa: E402
    PROCESSOR,
    cache_snapshot,
    commit_of,
    offline_cache,
    save_tiny_model,
)

from featuretransfer import store  # noqa: E402
from featuretransfer.run.executors import InlineExecutor  # noqa: E402
from featuretransfer.run.job import check_models  # noqa: E402
from featuretransfer.run.runner import run_jobs  # noqa: E402
from featuretransfer.study.folder import study_record  # noqa: E402
from featuretransfer.study.plan import plan_study  # noqa: E402
from featuretransfer.study.studyfile import load_study  # noqa: E402
from featuretransfer.study.studyspec import StudyError  # noqa: E402

REPO = "tiny-org/tiny-vit"
MAIN = commit_of("main, first")
MOVED = commit_of("main, moved")
IMAGENET_MEAN = tuple(PROCESSOR["image_mean"])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The tiny model's files (safetensors, config, image processor), saved once."""
    return save_tiny_model(tmp_path_factory.mktemp("saved") / "tiny-vit")


@pytest.fixture
def cache(tmp_path, monkeypatch, saved):
    """A hub cache holding the tiny model at MAIN, offline."""
    cache = tmp_path / "hub"
    cache_snapshot(cache, REPO, saved, MAIN)
    offline_cache(monkeypatch, cache)
    return cache


def study(root, fake_data, model, source=None, data="", model_keys="", name="hub"):
    """A study of `model` on the fake data, with the [source] table `source` if given."""
    text = f"""name = "{name}"
[data]
n_val = 40
path = "{fake_data}"
{data}
[model]
name = "{model}"
{model_keys}
[train]
epochs = 1
batch_size = 32
lr = 0.02
lr_milestones = []
best_k = 1
"""
    if source is not None:
        text += '[study]\ntreatments = ["SnB"]\ncuts = [1]\n'
        text += f"[source]\n{source}\nclasses = [0, 1, 2]\n"
    path = root / f"{name}.toml"
    path.write_text(text)
    return load_study(path)


def test_a_hub_id_resolves_offline_to_its_commit(cache, tmp_path, fake_data):
    snapshot = cache / "models--tiny-org--tiny-vit" / "snapshots" / MAIN
    for name in (f"hf:{REPO}", f"hf:{REPO}@main", f"hf:{REPO}@{MAIN}"):
        net = study(tmp_path, fake_data, name).net
        assert net.revision == MAIN and net.path == str(snapshot.resolve()), name
        assert net.units[:2] == ("vit.embeddings", "vit.layers.0") and len(net.units) == 4
        assert net.mean == () and not net.keeps_input_shape  # no source: adapted to the data


def test_a_hub_source_study_runs_offline_and_records_the_commit(cache, tmp_path, fake_data):
    """A 32 px RGB ViT from the hub as the source of a study on 28 px grey images: the channel
    is repeated, the position embeddings interpolated, and the source's image processor
    normalises the inputs (before: no hub ids at all; a folder of it: a shape mismatch)."""
    spec = study(tmp_path, fake_data, f"hf:{REPO}@main", f'checkpoint = "hf:{REPO}"')
    assert spec.net.revision == MAIN and spec.net.keeps_input_shape
    assert spec.net.mean == pytest.approx(IMAGENET_MEAN) and spec.data.normalize == "model"
    record = study_record(spec)  # what study.json holds
    assert record["net"]["revision"] == MAIN and record["data"]["normalize"] == "model"
    assert record["net"]["std"] == pytest.approx(PROCESSOR["image_std"])
    jobs = plan_study(spec)
    check_models(jobs)
    summary = run_jobs(jobs, tmp_path / "out", InlineExecutor(), show_progress=False)
    assert not summary.failed and len(summary.trained) == 2
    net = next(j for j in jobs if j.source == "S")
    got = store.load_weights(store.job_dir(tmp_path / "out", net.id) / store.WEIGHTS)
    source = store.load_weights(spec.source.path + "/model.safetensors")
    assert got["vit.embeddings.position_embeddings"].shape == (1, 65, 16)  # the 32 px grid
    for key in source:
        if key.startswith("vit.embeddings."):  # frozen: bit-identical to the source
            assert torch.equal(got[key], source[key]), key
    assert got["vit.embeddings.patch_embeddings.projection.weight"].shape[1] == 3  # RGB


def test_a_moved_branch_gives_the_nets_that_copy_from_it_new_ids(cache, saved, tmp_path, fake_data):
    folder = shutil.copytree(saved, tmp_path / "local-vit")  # the model from a folder
    before = plan_study(study(tmp_path, fake_data, "hf:local-vit", f'checkpoint = "hf:{REPO}"'))
    cache_snapshot(cache, REPO, saved, MOVED)  # main moves to the same files
    after = plan_study(study(tmp_path, fake_data, "hf:local-vit", f'checkpoint = "hf:{REPO}"'))
    assert folder.is_dir() and len(before) == len(after) == 2
    for old, new in zip(before, after):
        assert (old.id == new.id) == (old.source != "S"), old.display_name
    pinned = plan_study(
        study(tmp_path, fake_data, "hf:local-vit", f'checkpoint = "hf:{REPO}@{MAIN}"')
    )
    assert [j.id for j in pinned] == [j.id for j in before]  # a pinned commit: the same nets
    model_ids = {j.id for j in plan_study(study(tmp_path, fake_data, f"hf:{REPO}"))}
    cache_snapshot(cache, REPO, saved, commit_of("moved again"))
    assert model_ids.isdisjoint(j.id for j in plan_study(study(tmp_path, fake_data, f"hf:{REPO}")))


def test_a_config_that_needs_the_repositorys_code_is_refused(
    tmp_path, monkeypatch, saved, fake_data
):
    folder = shutil.copytree(saved, tmp_path / "remote")
    config = json.loads((folder / "config.json").read_text())
    config |= {"model_type": "my-vit", "auto_map": {"AutoConfig": "my_vit.MyConfig"}}
    (folder / "config.json").write_text(json.dumps(config))
    cache_snapshot(tmp_path / "hub", "someone/remote-vit", folder, MAIN)
    offline_cache(monkeypatch, tmp_path / "hub")
    for model, source in (
        ("hf:someone/remote-vit", None),
        ("hf:remote", None),
        ("vit", 'checkpoint = "hf:someone/remote-vit"'),
    ):
        with pytest.raises(StudyError) as error:
            study(tmp_path, fake_data, model, source)
        message = str(error.value)
        assert "auto_map" in message and "trust_remote_code" in message and "\n" not in message


def test_pickled_weights_are_refused_unless_the_study_allows_them(
    tmp_path, monkeypatch, saved, fake_data
):
    folder = tmp_path / "pickled"
    folder.mkdir()
    shutil.copy(saved / "config.json", folder)
    model = transformers.AutoModelForImageClassification.from_pretrained(saved)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    cache_snapshot(tmp_path / "hub", "someone/pickled-vit", folder, MAIN)
    offline_cache(monkeypatch, tmp_path / "hub")
    for checkpoint in ("hf:someone/pickled-vit", "pickled"):
        with pytest.raises(StudyError) as error:
            study(tmp_path, fake_data, "hf:pickled", f'checkpoint = "{checkpoint}"')
        assert "source.allow_pickle = true" in str(error.value), checkpoint
        assert "\n" not in str(error.value)
    allowed = study(
        tmp_path,
        fake_data,
        "hf:pickled",
        'checkpoint = "hf:someone/pickled-vit"\nallow_pickle = true',
    )
    assert allowed.source.allow_pickle
    jobs = plan_study(allowed)
    check_models(jobs)  # the pickled weights load, into the model's own shape
    run_jobs(jobs, tmp_path / "out", InlineExecutor(), show_progress=False)
    net = next(j for j in jobs if j.source == "S")
    got = store.load_weights(store.job_dir(tmp_path / "out", net.id) / store.WEIGHTS)
    key = "vit.embeddings.patch_embeddings.projection.weight"
    assert torch.equal(got[key], model.state_dict()[key])


@pytest.mark.parametrize(
    "model, source, message",
    [
        (f"hf:{REPO}@no-such-branch", None, "not in the hub cache"),
        ("hf:tiny-org/absent", None, "HF_HUB_OFFLINE is set"),
        ("hf:not a folder", None, "not a hub id"),
        ("vit", 'checkpoint = "hf:tiny-org/absent"', "source.checkpoint = 'hf:tiny-org/absent'"),
    ],
)
def test_what_the_cache_does_not_hold_is_one_line(
    cache, tmp_path, fake_data, model, source, message
):
    with pytest.raises(StudyError) as error:
        study(tmp_path, fake_data, model, source)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_the_study_overrides_the_image_processor(cache, tmp_path, fake_data):
    source = f'checkpoint = "hf:{REPO}"'
    own = study(tmp_path, fake_data, f"hf:{REPO}", source)
    assert own.net.mean == pytest.approx(IMAGENET_MEAN)
    given = study(
        tmp_path, fake_data, f"hf:{REPO}", source, model_keys="mean = [0.5]\nstd = [0.25]"
    )
    assert given.net.mean == (0.5,) and given.net.std == (0.25,)
    assert given.data.normalize == "model"
    data_own = study(tmp_path, fake_data, f"hf:{REPO}", source, 'normalize = "mean-std"')
    assert data_own.net.mean == () and data_own.data.normalize == "mean-std"
    assert data_own.net.keeps_input_shape  # the source's tensors still fit the model
    ids = {j.id for j in plan_study(own)}
    assert ids.isdisjoint(j.id for j in plan_study(data_own))  # other inputs, other nets


@pytest.mark.parametrize(
    "source, model_keys, data, message",
    [
        (None, "mean = [0.5]\nstd = [0.5]", "", "model.mean is for an hf: model with a pretrained"),
        (None, "", 'normalize = "model"', 'data.normalize = "model" is for an hf: model with'),
        ("", "mean = [0.5]", "", "model.mean and model.std go together"),
        ("", "mean = [0.5, 0.5]\nstd = [0.5]", "", "give one value or one per channel"),
        ("", "mean = [2]\nstd = [0.5]", "", "model.mean = [2.0] should each be >= 0 and <= 1"),
        ("", "mean = [0.5]\nstd = [0.5]", 'normalize = "mean"', "leave data.normalize out"),
    ],
)
def test_bad_input_settings_are_one_line(
    cache, tmp_path, fake_data, source, model_keys, data, message
):
    source = None if source is None else f'checkpoint = "hf:{REPO}"'
    with pytest.raises(StudyError) as error:
        study(tmp_path, fake_data, f"hf:{REPO}", source, data, model_keys)
    assert message in str(error.value) and "\n" not in str(error.value)
