"""examples/my_timm.py: a timm model through a factory, which imports and plans without timm
(timm cannot be installed beside the CPU torch here: it pulls torchvision)."""

import sys
from pathlib import Path

import pytest

from featuretransfer.nets.factory import build_factory_model
from featuretransfer.nets.units import ModelError
from featuretransfer.study.plan import plan_study
from featuretransfer.study.studyfile import load_study

EXAMPLE = Path(__file__).parents[2] / "examples" / "my_timm.py"


def test_the_timm_factory_imports_without_timm_and_says_how_to_install_it(
    monkeypatch, tmp_path, fake_data
):
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` fails: as if not installed
    study = tmp_path / "timm.toml"
    study.write_text(
        f"""name = "timm"
[data]
n_val = 40
path = "{fake_data}"
[model]
name = "my_timm:build"
file = "{EXAMPLE}"
units = ["conv1+bn1", "layer1", "layer2", "layer3", "layer4", "fc"]
args = {{ arch = "resnet18" }}
"""
    )
    spec = load_study(study)  # the module imports: timm is imported inside the factory
    assert len(plan_study(spec)) == 2 + 5 * 5  # base nets; 5 treatments at n = 1..5
    with pytest.raises(ModelError) as error:
        build_factory_model(spec.net, 5, seed=0, in_channels=1, image_size=28)
    message = str(error.value)
    assert message.endswith("timm is not installed: pip install timm") and "\n" not in message
