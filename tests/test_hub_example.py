"""examples/hub-source.toml, offline: its hub id resolves from a hub cache this test builds
(a tiny ResNet of the hub model's shape: 4 stages, 6 units), and a tiny version of it runs."""

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")
pytest.importorskip("huggingface_hub")

from hub_cache import cache_snapshot, commit_of, offline_cache  # noqa: E402

from featuretransfer import store  # noqa: E402
from featuretransfer.run.executors import InlineExecutor  # noqa: E402
from featuretransfer.run.job import check_models  # noqa: E402
from featuretransfer.run.runner import run_jobs  # noqa: E402
from featuretransfer.specs import TrainSpec  # noqa: E402
from featuretransfer.study.plan import plan_study  # noqa: E402
from featuretransfer.study.studyfile import load_study  # noqa: E402

EXAMPLE = Path(__file__).parents[1] / "examples" / "hub-source.toml"
# microsoft/resnet-18's image processor as the hub ships it (ImageNet's mean and std)
RESNET_PROCESSOR = {
    "crop_pct": 0.875,
    "do_normalize": True,
    "do_resize": True,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
    "image_processor_type": "ConvNextImageProcessor",
    "resample": 3,
    "size": 224,
}


def test_the_hub_source_example_runs_against_a_local_cache(tmp_path, monkeypatch, fake_data):
    torch.manual_seed(0)
    config = transformers.ResNetConfig(
        num_channels=3,
        embedding_size=8,
        hidden_sizes=[8, 8, 8, 8],
        depths=[1, 1, 1, 1],
        layer_type="basic",
        num_labels=1000,
    )
    folder = tmp_path / "resnet-18"
    transformers.AutoModelForImageClassification.from_config(config).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(RESNET_PROCESSOR))
    commit = commit_of("microsoft/resnet-18 main")
    cache_snapshot(tmp_path / "hub", "microsoft/resnet-18", folder, commit)
    offline_cache(monkeypatch, tmp_path / "hub")
    shutil.copy(EXAMPLE, tmp_path / "hub-source.toml")

    study = load_study(tmp_path / "hub-source.toml", data_path=str(fake_data))
    assert study.net.revision == commit and len(study.net.units) == 6
    assert study.net.mean == pytest.approx(RESNET_PROCESSOR["image_mean"])
    assert study.data.normalize == "model" and study.splits[0].B == (2, 4, 5, 6, 9)
    assert len(plan_study(study)) == 1 + 2 * 5
    tiny = dataclasses.replace(
        study,
        data=dataclasses.replace(study.data, n_val=40, n_train_per_class=0),
        train=TrainSpec(epochs=1, batch_size=32, lr_milestones=(), best_k=1, precision="fp32"),
        cuts=(2,),
    )
    jobs = plan_study(tiny)
    check_models(jobs)
    summary = run_jobs(jobs, tmp_path / "runs", InlineExecutor(), show_progress=False)
    assert not summary.failed and len(summary.trained) == 3
    source = store.load_weights(folder / "model.safetensors")
    frozen = next(j for j in jobs if j.source == "S" and not j.fine_tune)
    got = store.load_weights(store.job_dir(tmp_path / "runs", frozen.id) / store.WEIGHTS)
    for key in source:
        if key.startswith(("resnet.embedder.", "resnet.encoder.stages.0.")):
            assert torch.equal(got[key], source[key]), key
