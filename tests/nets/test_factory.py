"""A factory that is not there is said in the user's words: the file or module they named (never
the name the file is loaded under) and a few of the callables it does define."""

import shutil
from pathlib import Path

import pytest

from featuretransfer.cli import main
from featuretransfer.nets.factory import load_factory, resolve_model
from featuretransfer.nets.units import ModelError
from featuretransfer.specs import NetSpec

EXAMPLES = Path(__file__).parents[2] / "examples"
BADNETS = """from torch import nn
from torch.nn import Linear

WIDTH = 4


def build(n_classes, in_channels, image_size):
    return nn.Sequential(nn.Flatten(), Linear(in_channels * image_size**2, n_classes))


class Net(nn.Module):
    pass


def _helper():
    pass
"""


def test_an_unknown_factory_names_the_file_and_what_it_defines(tmp_path):
    (tmp_path / "badnets.py").write_text(BADNETS)
    with pytest.raises(ModelError) as error:
        resolve_model(NetSpec(name="badnets:nope"), tmp_path, "badnets.py", ["1"])
    message = str(error.value)
    path = tmp_path / "badnets.py"
    assert f"model.name = 'badnets:nope': {path} has no callable 'nope'" in message
    assert message.endswith("it defines Net, build")  # not Linear (imported), not _helper
    assert "_featuretransfer_model" not in message
    with pytest.raises(ModelError, match="'WIDTH' is a int, not a callable"):
        load_factory("badnets:WIDTH", str(path))


def test_an_unknown_factory_of_a_module_names_the_module_and_counts_the_rest(tmp_path):
    many = "".join(f"def f{i}(n_classes, in_channels, image_size):\n    pass\n" for i in range(9))
    (tmp_path / "many_nets.py").write_text(many)
    with pytest.raises(ModelError) as error:
        load_factory("many_nets:nope", str(tmp_path / "many_nets.py"))
    assert str(error.value).endswith("it defines f0, f1, f2, f3, f4, f5 and 3 more")
    (tmp_path / "empty_nets.py").write_text("import torch\n")
    with pytest.raises(ModelError, match="it defines no public function or class$"):
        load_factory("empty_nets:nope", str(tmp_path / "empty_nets.py"))
    with pytest.raises(ModelError) as error:
        load_factory("featuretransfer.specs:nope", None)
    assert "module 'featuretransfer.specs' has no callable 'nope'; it defines " in str(error.value)
    assert "NetSpec" in str(error.value)


def test_plan_of_an_unknown_factory_exits_2_naming_the_file(tmp_path, fake_data, capsys):
    shutil.copy(EXAMPLES / "my_nets.py", tmp_path / "badnets.py")
    path = tmp_path / "study.toml"
    path.write_text(
        f"""name = "bad-factory"
[data]
path = "{fake_data}"
[model]
name = "badnets:nope"
file = "badnets.py"
units = ["stem", "head"]
[study]
treatments = ["AnB"]
cuts = [1]
"""
    )
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{tmp_path / 'badnets.py'} has no callable 'nope'; it defines " in err
    assert "build" in err and "_featuretransfer_model" not in err
