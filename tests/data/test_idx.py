import gzip
import hashlib
import json

import numpy as np
import pytest
import torch
from conftest import write_idx

from featuretransfer.data import fingerprint, idx
from featuretransfer.data.dataset import DataError, hold_out
from featuretransfer.data.idx import read_idx
from featuretransfer.data.registry import load_dataset, with_fingerprint
from featuretransfer.specs import DataSpec


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_round_trip(tmp_path, suffix):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / f"x{suffix}", array)
    assert np.array_equal(read_idx(tmp_path / f"x{suffix}"), array)


def test_truncated_idx_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    write_idx(path, np.zeros((5, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*truncated"):
        read_idx(path)


def test_bad_magic_and_bad_gzip(tmp_path):
    (tmp_path / "a").write_bytes(b"\x12\x34\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(DataError, match="bad magic"):
        read_idx(tmp_path / "a")
    (tmp_path / "b.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 10)[:-5])
    with pytest.raises(DataError, match="b.gz"):
        read_idx(tmp_path / "b.gz")


def test_load_holds_out_a_seeded_validation_set(fake_data):
    dataset = load_dataset(with_fingerprint(DataSpec(n_val=40, path=str(fake_data))))
    assert dataset.train_x.dtype == torch.uint8 and dataset.train_x.shape[1:] == (1, 28, 28)
    assert len(dataset.train_y) + len(dataset.val_y) == 240 and len(dataset.val_y) == 40
    assert len(dataset.test_y) == 80
    train, val = hold_out(240, 40, seed=0)
    assert not set(train.tolist()) & set(val.tolist())
    assert torch.equal(hold_out(240, 40, seed=0)[1], val)
    assert not torch.equal(hold_out(240, 40, seed=1)[1], val)


def test_lookup_order_prefers_explicit_then_env(tmp_path, fake_data, monkeypatch):
    monkeypatch.setenv("FEATURETRANSFER_DATA", str(fake_data))
    assert idx.find_fashion_mnist(None) == fake_data
    with pytest.raises(DataError, match="does not exist"):
        idx.find_fashion_mnist(str(tmp_path / "missing"))
    with pytest.raises(DataError, match="lacks Fashion-MNIST"):
        idx.find_fashion_mnist(str(tmp_path))


def test_download_fails_fast_naming_both_ways(tmp_path, monkeypatch):
    monkeypatch.delenv("FEATURETRANSFER_DATA", raising=False)
    monkeypatch.setattr(idx, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(idx, "cache_dir", lambda: tmp_path / "cache")
    monkeypatch.setattr(idx, "FASHION_MNIST_URL", "http://127.0.0.1:9/")  # closed port
    with pytest.raises(DataError) as error:
        idx.find_fashion_mnist(None)
    message = str(error.value)
    assert "apt-get install dataset-fashion-mnist" in message and "--data DIR" in message


def test_download_checks_sha256(tmp_path, fake_data, monkeypatch):
    monkeypatch.setattr(idx, "FASHION_MNIST_URL", fake_data.as_uri() + "/")
    with pytest.raises(DataError, match="SHA-256 mismatch"):
        idx.download_fashion_mnist(tmp_path / "cache", base_url=fake_data.as_uri() + "/")
    assert not list((tmp_path / "cache").glob("*.gz"))


def test_an_unreadable_file_is_a_data_error_and_never_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "x.gz"
    folder.mkdir()
    with pytest.raises(DataError, match=r"x\.gz: cannot read it \(Is a directory\); replace it"):
        fingerprint.file_digest(folder)
    path = tmp_path / "y"
    write_idx(path, np.zeros((2, 3), dtype=np.uint8))

    def refuse(file, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(fingerprint, "open", refuse, raising=False)  # root reads any file
    with pytest.raises(DataError, match=r"/y: cannot read it \(permission denied\); make it"):
        fingerprint.file_digest(path)
    assert not fingerprint.cache_file().exists()
    monkeypatch.delattr(fingerprint, "open")
    assert fingerprint.file_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(json.loads(fingerprint.cache_file().read_text())) == 1
