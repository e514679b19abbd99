"""Hugging Face vision models from local folders: tiny configs saved with save_pretrained."""

import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_hf_config

transformers = pytest.importorskip("transformers")

from featuretransfer import store  # noqa: E402
from featuretransfer.nets.hf import hf_units  # noqa: E402
from featuretransfer.nets.registry import build_model  # noqa: E402
from featuretransfer.run.executors import InlineExecutor  # noqa: E402
from featuretransfer.run.images import Images  # noqa: E402
from featuretransfer.run.job import check_models, fuse_key  # noqa: E402
from featuretransfer.run.runner import run_jobs  # noqa: E402
from featuretransfer.specs import NetSpec  # noqa: E402
from featuretransfer.study.plan import plan_study  # noqa: E402
from featuretransfer.study.studyfile import load_study  # noqa: E402
from featuretransfer.study.studyspec import StudyError  # noqa: E402

UNITS = {
    "vit": ("vit.embeddings", "vit.layers.0", "vit.layers.1", "vit.layernorm+classifier"),
    "resnet": (
        "resnet.embedder",
        "resnet.encoder.stages.0",
        "resnet.encoder.stages.1",
        "classifier",
    ),
    "convnext": (
        "convnext.embeddings",
        "convnext.encoder.stages.0",
        "convnext.encoder.stages.1",
        "convnext.layernorm+classifier",
    ),
}


def study_file(root, fake_data, family: str, extra: str = "") -> str:
    path = root / f"{family}-study.toml"
    path.write_text(
        f"""name = "hf-{family}"
[data]
n_val = 40
path = "{fake_data}"
[model]
name = "hf:{family}"
[train]
epochs = 1
batch_size = 32
lr = 0.02
lr_milestones = []
best_k = 1
[study]
treatments = ["BnB", "AnB+"]
cuts = [2]
{extra}"""
    )
    return path


def random_images(n: int = 32) -> Images:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 255, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    return Images(x, torch.randint(0, 3, (n,), generator=g), 100.0, 60.0)


@pytest.mark.parametrize("family", ["vit", "resnet", "convnext"])
def test_units_are_found_and_the_config_named(hf_folders, fake_data, family):
    """The units each family is cut at (their copy-and-freeze contract: test_contract.py)."""
    study = load_study(study_file(hf_folders, fake_data, family))
    assert study.net.units == UNITS[family]
    assert len(study.net.code_sha256) == 64  # config.json's hash
    assert hf_units(build_model(study.net, 3, seed=1).model) == UNITS[family]


@pytest.mark.parametrize("family", ["vit", "resnet"])
def test_a_tiny_study_runs_on_a_local_hf_model(hf_folders, fake_data, tmp_path, family):
    jobs = plan_study(load_study(study_file(hf_folders, fake_data, family)))
    assert len(jobs) == 4 and all(fuse_key(j) is None for j in jobs)  # never fused
    check_models(jobs)
    summary = run_jobs(jobs, tmp_path, InlineExecutor(), show_progress=False)
    assert not summary.failed and len(summary.trained) == 4
    record = json.loads((store.job_dir(tmp_path, jobs[-1].id) / "record.json").read_text())
    assert record["n_layers"] == 4 and 0 <= record["top1"] <= 1


def test_hf_weights_serve_as_the_pretrained_source(hf_folders, fake_data, tmp_path):
    extra = '[source]\ncheckpoint = "vit"\ntrained_on = "tiny random ViT"\nclasses = [0, 1, 2]\n'
    text = (
        study_file(hf_folders, fake_data, "vit")
        .read_text()
        .replace('treatments = ["BnB", "AnB+"]', 'treatments = ["SnB"]')
    )
    path = hf_folders / "vit-source.toml"
    path.write_text(text + extra)
    jobs = plan_study(load_study(path))
    check_models(jobs)  # the 10-class head of the folder is dropped: it lies above every cut
    run_jobs(jobs, tmp_path, InlineExecutor(), show_progress=False)
    source = store.load_weights(hf_folders / "vit" / "model.safetensors")
    net = next(j for j in jobs if j.source == "S")
    got = store.load_weights(store.job_dir(tmp_path, net.id) / store.WEIGHTS)
    for key in source:
        if key.startswith(("vit.embeddings.", "vit.layers.0.")):
            assert torch.equal(got[key], source[key]), key
    assert got["classifier.weight"].shape == (3, 16)


def test_an_hf_folder_without_config_is_an_error(tmp_path, fake_data):
    (tmp_path / "empty").mkdir()
    with pytest.raises(StudyError, match="has no config.json"):
        load_study(study_file(tmp_path, fake_data, "empty"))


def vit_source_study(root, fake_data, folder: str, name: str = "vit-32") -> Path:
    path = root / f"{name}.toml"
    path.write_text(
        f"""name = "{name}"
[data]
n_val = 40
path = "{fake_data}"
[model]
name = "hf:{folder}"
[train]
epochs = 1
batch_size = 32
lr = 0.02
lr_milestones = []
best_k = 1
[study]
treatments = ["SnB", "SnB+"]
cuts = [1]
[source]
checkpoint = "{folder}"
classes = [0, 1, 2]
"""
    )
    return path


@pytest.fixture(scope="module")
def vit_32px(hf_folders):
    """A ViT saved at 32 px, RGB, patch 4 (an 8 x 8 grid of position embeddings)."""
    torch.manual_seed(0)
    config = tiny_hf_config("vit", 10)
    config.image_size, config.patch_size, config.num_channels = 32, 4, 3
    transformers.AutoModelForImageClassification.from_config(config).save_pretrained(
        hf_folders / "vit-32"
    )
    return hf_folders / "vit-32"


def test_a_32px_rgb_vit_is_the_source_of_a_study_on_28px_grey_images(vit_32px, fake_data, tmp_path):
    """The model keeps the source's input shape: the grey channel is repeated and the
    position embeddings are interpolated to the 7 x 7 grid at every forward pass (before: a
    shape mismatch of the position embeddings and the patch projection)."""
    study = load_study(vit_source_study(vit_32px.parent, fake_data, "vit-32"))
    assert study.net.keeps_input_shape and study.net.mean == ()  # no image processor saved
    jobs = plan_study(study)
    check_models(jobs)
    summary = run_jobs(jobs, tmp_path, InlineExecutor(), show_progress=False)
    assert not summary.failed and len(summary.trained) == 3
    source = store.load_weights(vit_32px / "model.safetensors")
    frozen = next(j for j in jobs if j.source == "S" and not j.fine_tune)
    got = store.load_weights(store.job_dir(tmp_path, frozen.id) / store.WEIGHTS)
    for key in source:
        if key.startswith("vit.embeddings."):
            assert torch.equal(got[key], source[key]), key


def input_net(folder, in_channels: int, mean=(), std=()):
    net = NetSpec(
        name=f"hf:{folder}",
        units=hf_units_of(folder),
        path=str(folder),
        keeps_input_shape=True,
        mean=mean,
        std=std,
    )
    model = build_model(net, 3, seed=1, in_channels=in_channels, image_size=28)
    return model.eval()


def hf_units_of(folder) -> tuple[str, ...]:
    from featuretransfer.nets.hf import describe_hf

    return describe_hf(folder)


def test_grey_images_are_repeated_to_rgb_and_rgb_averaged_to_grey(vit_32px, hf_folders):
    g = torch.Generator().manual_seed(0)
    grey, rgb = torch.rand(4, 1, 28, 28, generator=g), torch.rand(4, 3, 28, 28, generator=g)
    with torch.no_grad():
        on_rgb = input_net(vit_32px, in_channels=1)  # an RGB model on grey images
        assert torch.equal(on_rgb(grey), on_rgb(grey.expand(-1, 3, -1, -1)))
        on_grey = input_net(hf_folders / "vit", in_channels=3)  # a grey model on RGB images
        assert torch.allclose(on_grey(rgb), on_grey(rgb.mean(1, keepdim=True)), atol=1e-6)
        mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
        normalised = input_net(vit_32px, 3, mean, std)  # the model's own normalisation
        by_hand = (rgb - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
        assert torch.allclose(normalised(rgb), on_rgb(by_hand), atol=1e-5)
