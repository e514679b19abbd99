"""The store's weights files: safetensors written atomically; earlier model.pt files still read."""

import pytest
import torch

from featuretransfer.nets.registry import build_model
from featuretransfer.specs import NetSpec
from featuretransfer.study import store


def test_weights_round_trip_bit_identical(tmp_path):
    model = build_model(NetSpec(width=0.1), 5, seed=0).to(memory_format=torch.channels_last)
    store.save_weights(model.state_dict(), tmp_path / store.WEIGHTS)
    state = store.load_weights(tmp_path / store.WEIGHTS)
    assert set(state) == set(model.state_dict())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert not (tmp_path / (store.WEIGHTS + ".tmp")).exists()


def test_a_folder_of_an_earlier_version_is_read_from_model_pt(tmp_path):
    state = {"conv1.weight": torch.randn(2, 1, 3, 3)}
    torch.save(state, tmp_path / store.LEGACY_WEIGHTS)
    assert store.weights_file(tmp_path) == tmp_path / store.LEGACY_WEIGHTS
    assert torch.equal(
        store.load_weights(store.weights_file(tmp_path))["conv1.weight"], state["conv1.weight"]
    )
    store.save_weights(state, tmp_path / store.WEIGHTS)  # a redone job: the new file wins
    assert store.weights_file(tmp_path) == tmp_path / store.WEIGHTS


@pytest.mark.parametrize("name", [store.WEIGHTS, store.LEGACY_WEIGHTS])
def test_damaged_weights_are_one_line_without_library_advice(tmp_path, name):
    (tmp_path / name).write_bytes(b"\x00garbage, not weights")
    with pytest.raises(store.DamagedError) as error:
        store.load_weights(tmp_path / name)
    message = str(error.value)
    assert "damaged weights file" in message and "\n" not in message
    assert "weights_only" not in message  # torch's advice to unpickle it would run its code
