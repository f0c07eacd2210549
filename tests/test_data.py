"""Tests of nudgenet.data: IDX files, MNIST (local and a faked download), the bundled digits,
Black-Scholes samples, toy sets, splitting, standardising, and loading users' files."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import struct
import threading
import tracemalloc
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pytest

from nudgenet import recipes
from nudgenet.data import (
    Standardizer,
    black_scholes,
    black_scholes_call,
    digits,
    handwritten,
    header_row,
    load_arrays,
    load_idx,
    load_idx_pair,
    memmap_arrays,
    mnist,
    resolve_label_column,
    save_idx,
    spirals,
    train_test_split,
    userdata,
    xor,
)
from nudgenet.data import download as download_module
from nudgenet.data._io import read_bytes
from nudgenet.errors import DataError, DataNotFoundError, NudgenetError, ShapeError

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
needs_mnist = pytest.mark.skipif(
    not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"no MNIST test set at {MNIST_DIR}",
)
REAL_FETCH = download_module._fetch


@pytest.fixture(autouse=True)
def offline_and_isolated(monkeypatch, tmp_path):
    """No test touches the network, the user's cache or their NUDGENET_DATA."""

    def no_network(url):
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(download_module, "_fetch", no_network)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("NUDGENET_DATA", raising=False)


def cached_mnist(tmp_path: Path) -> Path:
    return tmp_path / "xdg-cache" / "nudgenet" / "mnist"


def write_fake_mnist(folder: Path, prefix: str, n: int = 5, gz: bool = True, seed: int = 0):
    """A small MNIST-shaped pair; returns (images uint8 (n, 28, 28), labels uint8 (n,))."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    ext = ".gz" if gz else ""
    save_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images)
    save_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return images, labels


def idx_bytes(code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


# --- IDX -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip_every_dtype(tmp_path, dtype, name):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    save_idx(tmp_path / name, a)
    b = load_idx(tmp_path / name)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    assert b.shape == (2, 3, 4)
    np.testing.assert_array_equal(a, b)
    assert b.flags.writeable


def test_load_idx_reads_big_endian_values(tmp_path):
    payload = struct.pack(">3i", 1, 256, -2)
    (tmp_path / "a").write_bytes(idx_bytes(0x0C, (3,), payload))
    np.testing.assert_array_equal(load_idx(tmp_path / "a"), [1, 256, -2])


def test_load_idx_detects_gzip_by_magic_not_by_name(tmp_path):
    data = idx_bytes(0x08, (2, 2), bytes([1, 2, 3, 4]))
    (tmp_path / "raw.gz").write_bytes(data)
    (tmp_path / "packed.idx").write_bytes(gzip.compress(data))
    for name in ("raw.gz", "packed.idx"):
        np.testing.assert_array_equal(load_idx(tmp_path / name), [[1, 2], [3, 4]])


@pytest.mark.parametrize(
    ("payload_size", "problem"), [(11, "truncated"), (13, "over-long"), (0, "truncated")]
)
def test_load_idx_wrong_payload_size_names_expected_and_actual_bytes(
    tmp_path, payload_size, problem
):
    (tmp_path / "a").write_bytes(idx_bytes(0x0C, (3,), bytes(payload_size)))
    with pytest.raises(DataError, match=f"{payload_size} bytes, expected 12.*{problem}"):
        load_idx(tmp_path / "a")


def test_load_idx_truncated_real_mnist_file(tmp_path):
    data = idx_bytes(0x08, (100, 28, 28), bytes(100 * 784))
    (tmp_path / "t.gz").write_bytes(gzip.compress(data[:-784]))
    with pytest.raises(DataError, match=f"{99 * 784} bytes, expected {100 * 784}"):
        load_idx(tmp_path / "t.gz")


def test_load_idx_corrupt_gzip_is_a_data_error(tmp_path):
    packed = gzip.compress(idx_bytes(0x08, (1000,), bytes(range(250)) * 4))
    (tmp_path / "cut.gz").write_bytes(packed[: len(packed) // 2])
    flipped = bytearray(packed)
    flipped[len(packed) // 2] ^= 0xFF
    (tmp_path / "flipped.gz").write_bytes(bytes(flipped))
    for name in ("cut.gz", "flipped.gz"):
        with pytest.raises(DataError, match="corrupt gzip"):
            load_idx(tmp_path / name)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01\x00\x08\x01" + bytes(8), "not an IDX file: starts with bytes 01 00 08 01"),
        (b"PK\x03\x04" + bytes(8), "not an IDX file"),
        (b"\x00\x00", "not an IDX file"),
        (b"\x93NUMPY\x01\x00" + bytes(8), r"an .npy file, not IDX; put .*save_arrays"),
        (b"", r"\(empty\)"),
        (b"\x00\x00\x0a\x01" + struct.pack(">I", 1) + b"x", "unknown IDX type code 0x0A"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 1), "truncated IDX header: 8 bytes, expected 16"),
    ],
)
def test_load_idx_bad_header(tmp_path, data, message):
    (tmp_path / "bad").write_bytes(data)
    with pytest.raises(DataError, match=message):
        load_idx(tmp_path / "bad")


def test_load_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_idx(tmp_path / "nope.idx")


def test_save_idx_rejects_what_idx_cannot_hold(tmp_path):
    with pytest.raises(DataError, match="cannot store dtype int64"):
        save_idx(tmp_path / "a", np.zeros(3, dtype=np.int64))
    with pytest.raises(DataError, match=r"shape \(\)"):
        save_idx(tmp_path / "a", np.float32(1.0))
    assert not list(tmp_path.iterdir())


def test_load_idx_pair_flattens_and_scales_uint8(tmp_path):
    images = np.array([[[0, 255], [51, 102]], [[1, 2], [3, 4]]], dtype=np.uint8)
    save_idx(tmp_path / "img", images)
    save_idx(tmp_path / "lab", np.array([3, 7], dtype=np.uint8))
    x, y = load_idx_pair(tmp_path / "img", tmp_path / "lab")
    assert x.dtype == np.float32 and x.shape == (2, 4)
    np.testing.assert_allclose(x[0], [0.0, 1.0, 0.2, 0.4], rtol=1e-6)
    assert y.dtype == np.int64 and y.tolist() == [3, 7]


def test_load_idx_pair_keeps_non_uint8_values(tmp_path):
    save_idx(tmp_path / "img", np.array([[1.5, -2.0]], dtype=np.float64))
    save_idx(tmp_path / "lab", np.array([4], dtype=np.int32))
    x, y = load_idx_pair(tmp_path / "img", tmp_path / "lab")
    assert x.dtype == np.float32 and x.tolist() == [[1.5, -2.0]]
    assert y.dtype == np.int64 and y.tolist() == [4]


def test_load_idx_pair_rejects_nan(tmp_path):
    save_idx(tmp_path / "img", np.array([[0.0], [np.nan]], dtype=np.float32))
    save_idx(tmp_path / "lab", np.array([0, 1], dtype=np.uint8))
    with pytest.raises(DataError, match="x holds 1 NaN or infinite values .* sample 1"):
        load_idx_pair(tmp_path / "img", tmp_path / "lab")


def test_load_idx_pair_errors(tmp_path):
    save_idx(tmp_path / "img", np.zeros((3, 2, 2), dtype=np.uint8))
    save_idx(tmp_path / "lab2", np.zeros(2, dtype=np.uint8))
    save_idx(tmp_path / "lab2d", np.zeros((3, 1), dtype=np.uint8))
    with pytest.raises(DataError, match="holds 3 images but .* holds 2 labels"):
        load_idx_pair(tmp_path / "img", tmp_path / "lab2")
    with pytest.raises(DataError, match=r"1-D labels file, got shape \(3, 1\)"):
        load_idx_pair(tmp_path / "img", tmp_path / "lab2d")
    with pytest.raises(DataError, match=r"images of shape \(28, 28\), got \(2, 2\)"):
        load_idx_pair(tmp_path / "img", tmp_path / "lab2", image_shape=(28, 28))


# --- MNIST -----------------------------------------------------------------------------------


@needs_mnist
def test_mnist_real_test_set():
    x, y = mnist("test", data_dir=MNIST_DIR, download=False)
    assert x.shape == (10000, 784) and x.dtype == np.float32
    assert y.shape == (10000,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert 0.1 < x.mean() < 0.15  # MNIST's mean pixel is about 0.13
    counts = np.bincount(y, minlength=10)
    assert len(counts) == 10 and counts.sum() == 10000
    assert counts.min() > 850 and counts.max() < 1200
    assert y[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]  # the well-known first test labels


@needs_mnist
def test_mnist_finds_a_parent_folder_and_the_env_var(monkeypatch):
    x_parent, y_parent = mnist("test", data_dir=MNIST_DIR.parent, download=False)
    monkeypatch.setenv("NUDGENET_DATA", str(MNIST_DIR.parent))
    x_env, y_env = mnist("test", download=False)
    assert x_parent.shape == x_env.shape == (10000, 784)
    np.testing.assert_array_equal(y_parent, y_env)


def test_mnist_raw_train_files(tmp_path):
    images, labels = write_fake_mnist(tmp_path, "train", n=4, gz=False)
    x, y = mnist("train", data_dir=tmp_path, download=False)
    np.testing.assert_allclose(x, images.reshape(4, 784) / 255, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)


def test_mnist_data_dir_comes_before_env_var(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path / "a", "t10k", n=3)
    write_fake_mnist(tmp_path / "b", "t10k", n=6)
    monkeypatch.setenv("NUDGENET_DATA", str(tmp_path / "b"))
    assert len(mnist("test", data_dir=tmp_path / "a", download=False)[1]) == 3
    assert len(mnist("test", download=False)[1]) == 6


def test_mnist_env_var_comes_before_the_cache(tmp_path, monkeypatch):
    write_fake_mnist(cached_mnist(tmp_path), "t10k", n=3)
    write_fake_mnist(tmp_path / "env", "t10k", n=6)
    assert len(mnist("test", download=False)[1]) == 3  # the cache, when nothing else is named
    monkeypatch.setenv("NUDGENET_DATA", str(tmp_path / "env"))
    assert len(mnist("test", download=False)[1]) == 6


def test_mnist_missing_without_download_says_where_it_looked(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        mnist("test", data_dir=tmp_path / "nowhere", download=False)
    message = str(info.value)
    for expected in (
        "t10k-images-idx3-ubyte",
        str(tmp_path / "nowhere"),
        str(tmp_path / "nowhere" / "mnist"),
        str(cached_mnist(tmp_path)),
        "data_dir",
        "NUDGENET_DATA",
        "download=True",
    ):
        assert expected in message


def test_mnist_bad_split():
    with pytest.raises(ValueError, match="'train' or 'test', got 'val'"):
        mnist("val")


def test_mnist_inconsistent_files(tmp_path):
    write_fake_mnist(tmp_path, "t10k", n=5)
    save_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(4, dtype=np.uint8))
    with pytest.raises(DataError, match="holds 5 images but .* holds 4 labels") as info:
        mnist("test", data_dir=tmp_path, download=False)
    assert not isinstance(info.value, DataNotFoundError)  # there, but wrong: not "not found"
    save_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(5, 10, dtype=np.uint8))
    with pytest.raises(DataError, match=r"labels must be 0..9, got 10..10"):
        mnist("test", data_dir=tmp_path, download=False)
    save_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((5, 27, 28), dtype=np.uint8))
    with pytest.raises(DataError, match=r"shape \(28, 28\), got \(27, 28\)"):
        mnist("test", data_dir=tmp_path, download=False)


def fake_server(tmp_path: Path, monkeypatch, *, official_digests: bool = False) -> dict:
    """Serve a fake MNIST test pair through download._fetch; returns {url: bytes} served.

    Unless ``official_digests``, the expected sizes and digests are replaced by the fake files'.
    """
    write_fake_mnist(tmp_path / "server", "t10k", n=7)
    served: dict[str, bytes] = {}
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        body = (tmp_path / "server" / name).read_bytes()
        if not official_digests:
            digests = (hashlib.md5(body).hexdigest(), hashlib.sha256(body).hexdigest())
            remote = download_module.RemoteFile(name, len(body), *digests)
            monkeypatch.setitem(handwritten._MNIST_FILES, name, remote)
        else:  # right size, wrong content
            body = body.ljust(handwritten._MNIST_FILES[name].size, b"\0")
        for mirror in handwritten.MNIST_MIRRORS:
            served[mirror + name] = body
    requested: list[str] = []

    def fetch(url):
        requested.append(url)
        return served[url]

    monkeypatch.setattr(download_module, "_fetch", fetch)
    return {"requested": requested, "served": served}


def test_mnist_download_verifies_and_caches(tmp_path, monkeypatch):
    server = fake_server(tmp_path, monkeypatch)
    x, y = mnist("test", data_dir=tmp_path / "empty")
    assert x.shape == (7, 784) and y.shape == (7,)
    assert len(server["requested"]) == 2
    assert all(url.startswith(handwritten.MNIST_MIRRORS[0]) for url in server["requested"])
    cached = sorted(p.name for p in cached_mnist(tmp_path).iterdir())
    assert cached == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]  # no temp files
    x_again, _ = mnist("test")  # from the cache now: nothing more fetched
    assert len(server["requested"]) == 2
    np.testing.assert_array_equal(x, x_again)


def test_mnist_download_checksum_mismatch_writes_nothing(tmp_path, monkeypatch):
    server = fake_server(tmp_path, monkeypatch, official_digests=True)
    with pytest.raises(DataError) as info:
        mnist("test")
    message = str(info.value)
    assert "checksum mismatch: MD5" in message
    assert "expected 9fb629c4189551a2d022fa330f9573f3" in message  # the official t10k-images MD5
    assert "NUDGENET_DATA" in message
    assert "\n" not in message  # one line, so the command line can print it as one
    assert len(server["requested"]) == len(handwritten.MNIST_MIRRORS)  # every mirror tried
    assert not cached_mnist(tmp_path).exists() or not list(cached_mnist(tmp_path).iterdir())


def test_mnist_download_with_the_right_size_and_md5_but_another_sha256_is_refused(
    tmp_path, monkeypatch
):
    server = fake_server(tmp_path, monkeypatch)  # size and digests of the files served...
    name = "t10k-images-idx3-ubyte.gz"
    served = handwritten._MNIST_FILES[name]
    wrong = download_module.RemoteFile(name, served.size, served.md5, "0" * 64)
    monkeypatch.setitem(handwritten._MNIST_FILES, name, wrong)  # ...but another SHA-256
    with pytest.raises(DataError, match=f"checksum mismatch: SHA-256 {served.sha256}, expected"):
        mnist("test")
    assert len(server["requested"]) == len(handwritten.MNIST_MIRRORS)  # every mirror refused
    assert not cached_mnist(tmp_path).exists() or not list(cached_mnist(tmp_path).iterdir())


def test_download_falls_back_to_the_next_mirror(tmp_path, monkeypatch):
    server = fake_server(tmp_path, monkeypatch)
    first = handwritten.MNIST_MIRRORS[0]

    def flaky(url):
        server["requested"].append(url)
        if url.startswith(first):
            raise urllib.error.URLError("connection refused")
        return server["served"][url]

    monkeypatch.setattr(download_module, "_fetch", flaky)
    x, _ = mnist("test")
    assert x.shape == (7, 784)
    assert len(server["requested"]) == 4


def test_download_reports_every_failure(tmp_path, monkeypatch):
    name = "t10k-labels-idx1-ubyte.gz"
    remote = download_module.RemoteFile(name, 4, "0" * 32, "0" * 64)
    monkeypatch.setattr(download_module, "_fetch", lambda url: b"abc")
    with pytest.raises(DataError, match=r"(?s)m1/t10k.*got 3 bytes, expected 4.*m2/t10k"):
        download_module.download(remote, ["https://m1/", "https://m2/"], tmp_path)
    assert not list(tmp_path.iterdir())


def test_real_fetch_reads_a_url_without_network(tmp_path):
    (tmp_path / "f.bin").write_bytes(b"\x00\x01payload")
    assert REAL_FETCH((tmp_path / "f.bin").as_uri()) == b"\x00\x01payload"


def test_cache_dir_honours_xdg_cache_home(monkeypatch, tmp_path):
    assert download_module.cache_dir("mnist") == tmp_path / "xdg-cache" / "nudgenet" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert download_module.cache_dir() == tmp_path / "home" / ".cache" / "nudgenet"


# --- digits ----------------------------------------------------------------------------------


def test_digits_bundled():
    x, y = digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(np.unique(x * 16), np.arange(17))  # pixel counts 0..16
    assert np.bincount(y).tolist()[:3] == [178, 182, 177]


def test_digits_match_scikit_learn():
    import sklearn.datasets as sk_datasets  # the test extra installs it: missing, this fails
    sk = sk_datasets.load_digits()
    x, y = digits()
    np.testing.assert_array_equal(x * 16, sk.data)
    np.testing.assert_array_equal(y, sk.target)


# --- Black-Scholes ---------------------------------------------------------------------------


def test_black_scholes_shapes_ranges_and_seed():
    d = black_scholes(2000, seed=3)
    assert d.x.shape == (2000, 4) and d.x.dtype == np.float32
    for field in (d.price, d.delta, d.vega):
        assert field.shape == (2000, 1) and field.dtype == np.float32
    bounds = [(0.8, 1.2), (0.05, 2.0), (0.0, 0.08), (0.1, 0.5)]
    for column, (low, high) in zip(d.x.T, bounds, strict=True):
        assert low <= column.min() and column.max() <= high
        assert column.max() - column.min() > 0.9 * (high - low)  # the whole range is used
    again = black_scholes(2000, seed=3)
    np.testing.assert_array_equal(d.x, again.x)
    np.testing.assert_array_equal(d.price, again.price)
    assert not np.array_equal(d.x, black_scholes(2000, seed=4).x)
    assert d.columns == ("moneyness", "maturity", "rate", "volatility")


def test_black_scholes_custom_ranges_and_dtype():
    d = black_scholes(50, seed=0, moneyness=(1.0, 1.0), volatility=(0.3, 0.3), dtype=np.float64)
    assert d.x.dtype == np.float64 and d.price.dtype == np.float64
    assert np.all(d.x[:, 0] == 1.0) and np.all(d.x[:, 3] == 0.3)


def test_black_scholes_no_arbitrage_bounds_and_greek_signs():
    d = black_scholes(5000, seed=1, dtype=np.float64)
    m, t, r = d.x[:, 0], d.x[:, 1], d.x[:, 2]
    price = d.price[:, 0]
    assert np.all(price >= np.maximum(m - np.exp(-r * t), 0.0) - 1e-12)
    assert np.all(price <= m)
    assert np.all((d.delta > 0) & (d.delta < 1))
    assert np.all(d.vega > 0)


def test_black_scholes_greeks_match_finite_differences():
    d = black_scholes(500, seed=2, dtype=np.float64)
    m, t, r, sigma = d.x.T
    h = 1e-6
    dp_dm = (
        black_scholes_call(m + h, t, r, sigma)[0] - black_scholes_call(m - h, t, r, sigma)[0]
    ) / (2 * h)
    dp_ds = (
        black_scholes_call(m, t, r, sigma + h)[0] - black_scholes_call(m, t, r, sigma - h)[0]
    ) / (2 * h)
    np.testing.assert_allclose(dp_dm, d.delta[:, 0], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dp_ds, d.vega[:, 0], rtol=1e-6, atol=1e-8)


def test_black_scholes_call_textbook_value_and_deep_tail():
    price, delta, vega = black_scholes_call(100 / 100, 1.0, 0.05, 0.2)  # Hull: C = 10.4506
    assert abs(float(price) * 100 - 10.4506) < 1e-4
    assert abs(float(delta) - 0.6368) < 1e-4
    assert abs(float(vega) * 100 - 37.524) < 1e-3
    _, tiny_delta, _ = black_scholes_call(0.5, 0.05, 0.0, 0.1)  # d1 ≈ −31
    assert 0 < float(tiny_delta) < 1e-200  # the lower tail keeps its relative accuracy


def test_black_scholes_bad_arguments():
    with pytest.raises(ValueError, match=r"maturity range .* got \(2.0, 1.0\)"):
        black_scholes(10, maturity=(2.0, 1.0))
    with pytest.raises(ValueError, match="volatility must be positive"):
        black_scholes(10, volatility=(0.0, 0.2))
    with pytest.raises(ValueError, match="n must be >= 0"):
        black_scholes(-1)
    with pytest.raises(ValueError, match="moneyness must be positive"):
        black_scholes_call(-1.0, 1.0, 0.0, 0.2)


# --- toy sets --------------------------------------------------------------------------------


def test_xor():
    x, y = xor()
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(y, np.logical_xor(x[:, 0], x[:, 1]))


def test_spirals():
    x, y = spirals(10, classes=3, noise=0.1, seed=5)
    assert x.shape == (10, 2) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [4, 3, 3]
    assert np.all(np.linalg.norm(x, axis=1) <= 1 + 1e-6)
    np.testing.assert_array_equal(x, spirals(10, classes=3, noise=0.1, seed=5)[0])
    assert not np.array_equal(x, spirals(10, classes=3, noise=0.1, seed=6)[0])
    x0, _ = spirals(300, noise=0.0, seed=0)
    assert np.allclose(x0[299], [np.sin(12.0), np.cos(12.0)], atol=1e-6)  # end of arm 2


def test_spirals_errors():
    with pytest.raises(ValueError, match="n=2 is fewer than classes=3"):
        spirals(2, classes=3)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        spirals(noise=-1.0)


# --- train_test_split ------------------------------------------------------------------------


def test_split_keeps_rows_together_and_partitions():
    x = np.arange(100).reshape(50, 2)
    y = np.arange(50)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, seed=0)
    assert len(x_te) == 15 and len(x_tr) == 35
    np.testing.assert_array_equal(x_tr[:, 0] // 2, y_tr)
    np.testing.assert_array_equal(x_te[:, 0] // 2, y_te)
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == list(range(50))
    assert y_tr.tolist() != sorted(y_tr.tolist())  # shuffled
    again = train_test_split(x, y, test_size=0.3, seed=0)
    np.testing.assert_array_equal(again[3], y_te)


def test_split_without_shuffle_takes_the_last_rows():
    y_tr, y_te = train_test_split(list(range(10)), test_size=0.25, shuffle=False)
    assert y_tr.tolist() == list(range(7)) and y_te.tolist() == [7, 8, 9]


def test_split_stratified_keeps_class_shares():
    y = np.array([0] * 80 + [1] * 20)
    _, y_te = train_test_split(y, test_size=0.25, seed=1, stratify=y)
    assert np.bincount(y_te).tolist() == [20, 5]
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    _, y_te = train_test_split(labels, test_size=10, seed=1, stratify=labels)
    assert np.bincount(y_te).tolist() == [5, 3, 2]


def test_split_errors():
    with pytest.raises(ShapeError, match=r"lengths \[10, 9\]"):
        train_test_split(np.zeros(10), np.zeros(9))
    for bad in (0.0, 1.0, 0, 10, -1):
        with pytest.raises(ValueError, match="test_size"):
            train_test_split(np.zeros(10), test_size=bad)
    with pytest.raises(ValueError, match="shuffle=True"):
        train_test_split(np.zeros(10), stratify=np.zeros(10), shuffle=False)
    with pytest.raises(ValueError, match="class 1 has only 1 row"):
        train_test_split(np.zeros(10), stratify=[0] * 9 + [1])
    with pytest.raises(ShapeError, match="stratify has shape"):
        train_test_split(np.zeros(10), stratify=[0, 1] * 4)


# --- Standardizer ----------------------------------------------------------------------------


def test_standardizer_round_trip_keeps_float32():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(200, 3)) * [1.0, 10.0, 0.1] + [5.0, -3.0, 0.0]).astype(np.float32)
    x[:, 2] = 7.0  # a constant feature
    s = Standardizer()
    z = s.fit_transform(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[:, :2].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z[:, :2].std(axis=0), 1.0, rtol=1e-5)
    assert np.all(z[:, 2] == 0.0)  # centred, not divided by zero
    back = s.inverse_transform(z)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, x, rtol=1e-5, atol=1e-5)


def test_standardizer_fit_holds_no_copy_of_the_data():
    """np.std holds a float64 copy of all rows (twice a float32 data set): fit takes blocks."""
    x = np.random.default_rng(2).normal(3.0, 2.0, size=(200_000, 50)).astype(np.float32)
    tracemalloc.start()
    try:
        s = Standardizer().fit(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes / 3, f"{peak / 2**20:.0f} MiB for {x.nbytes / 2**20:.0f} MiB of rows"
    np.testing.assert_allclose(s.scale_, x.std(axis=0, dtype=np.float64), rtol=1e-12)
    np.testing.assert_array_equal(s.mean_, x.mean(axis=0, dtype=np.float64))


def test_standardizer_json_round_trip():
    x = np.random.default_rng(1).normal(size=(30, 4, 2))
    s = Standardizer().fit(x)
    restored = Standardizer.from_dict(json.loads(json.dumps(s.to_dict())))
    np.testing.assert_array_equal(restored.transform(x), s.transform(x))
    assert restored.transform(x).shape == (30, 4, 2)


def test_standardizer_integer_input_gives_float32():
    assert Standardizer().fit_transform(np.array([[1], [3]])).dtype == np.float32


def test_standardizer_errors():
    s = Standardizer()
    with pytest.raises(NudgenetError, match="not fitted"):
        s.transform(np.zeros((2, 3)))
    s.fit(np.zeros((4, 3)))
    with pytest.raises(ShapeError, match=r"features of shape \(3,\), got x of shape \(2, 5\)"):
        s.transform(np.zeros((2, 5)))
    with pytest.raises(DataError, match="NaN or infinity in 1 of 2 features"):
        Standardizer().fit(np.array([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(ShapeError, match="at least one row"):
        Standardizer().fit(np.zeros((0, 3)))
    with pytest.raises(DataError, match=r"missing \['scale'\]; got keys \['mean'\]"):
        Standardizer.from_dict({"mean": [0.0]})
    with pytest.raises(DataError, match="positive scales"):
        Standardizer.from_dict({"mean": [0.0], "scale": [0.0]})
    with pytest.raises(DataError, match="mean has shape"):
        Standardizer.from_dict({"mean": [0.0, 1.0], "scale": [1.0]})


# --- users' files: .npz and .csv -------------------------------------------------------------


def test_load_npz(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.arange(12, dtype=np.float64).reshape(3, 4), y=[0.0, 2.0, 1.0])
    x, y = load_arrays(tmp_path / "d.npz")
    assert x.dtype == np.float32 and x.shape == (3, 4)
    assert y.dtype == np.int64 and y.tolist() == [0, 2, 1]  # whole numbers become class labels
    x, y = load_arrays(tmp_path / "d.npz", label_column=None)
    assert y is None and x.shape == (3, 4)


def test_load_npz_images_and_regression_targets(tmp_path):
    images = np.full((2, 3, 3), 255, dtype=np.uint8)
    np.savez_compressed(tmp_path / "d.npz", x=images, y=np.array([0.5, 1.25]))
    x, y = load_arrays(tmp_path / "d.npz")
    assert x.shape == (2, 9) and np.all(x == 1.0)
    assert y.dtype == np.float32 and y.tolist() == [0.5, 1.25]


@pytest.mark.parametrize(("name", "save"), [
    ("d.npz", lambda path, x: np.savez(path, x=x, y=np.zeros(len(x), np.int64))),
    ("d.npy", np.save),
])  # fmt: skip
def test_loading_holds_the_features_once(name, save, tmp_path):
    """The file's bytes, a zip member's read buffer and the finiteness mask each held another
    copy of the rows (4x a float32 .npz in all); now the array alone, and blocks of it."""
    x = np.random.default_rng(3).normal(size=(20_000, 500)).astype(np.float32)  # 38 MiB
    save(tmp_path / name, x)
    tracemalloc.start()
    try:
        loaded = load_arrays(tmp_path / name, label_column=-1 if name.endswith("z") else None)[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.3 * x.nbytes, f"{peak / 2**20:.0f} MiB for {x.nbytes / 2**20:.0f} MiB of rows"
    np.testing.assert_array_equal(loaded, x)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_an_npy_or_npz_arriving_through_a_pipe_loads(tmp_path):
    """A pipe cannot seek: its content is read into memory (a bare io.UnsupportedOperation)."""
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(4))
    for name, source, labels in (("p.npy", "x.npy", None), ("p.npz", "d.npz", -1)):
        pipe = tmp_path / name
        os.mkfifo(pipe)
        writer = threading.Thread(target=pipe.write_bytes, args=[(tmp_path / source).read_bytes()])
        writer.start()
        try:
            np.testing.assert_array_equal(load_arrays(pipe, label_column=labels)[0], x)
        finally:
            writer.join(timeout=10)


def test_load_npz_errors(tmp_path):
    np.savez(tmp_path / "keys.npz", features=np.zeros((2, 2)), labels=np.zeros(2))
    with pytest.raises(DataError, match=r"expected key 'x' \(or 'X'\), found keys \['features'"):
        load_arrays(tmp_path / "keys.npz")
    np.savez(tmp_path / "nolabels.npz", x=np.zeros((2, 2)))
    with pytest.raises(DataError, match=r"expected key 'y' .* found keys \['x'\]"):
        load_arrays(tmp_path / "nolabels.npz")
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(DataError, match="cannot read as an .npz"):
        load_arrays(tmp_path / "obj.npz")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    (tmp_path / "plain.npz").write_bytes((tmp_path / "plain.npy").read_bytes())
    with pytest.raises(DataError, match="single .npy array"):
        load_arrays(tmp_path / "plain.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(DataError, match=r"not an .npz \(zip\) archive"):
        load_arrays(tmp_path / "junk.npz")
    np.savez(tmp_path / "short.npz", x=np.zeros((3, 2)), y=np.zeros(2))
    with pytest.raises(DataError, match=r"x has 3 rows but y has shape \(2,\)"):
        load_arrays(tmp_path / "short.npz")
    with pytest.raises(ValueError, match="applies to CSV"):
        load_arrays(tmp_path / "short.npz", label_column="label")


def test_load_csv_with_header_and_named_label(tmp_path):
    (tmp_path / "d.csv").write_text("label,a,b\n1,0.5,2\n0,1.5,3\n")
    x, y = load_arrays(tmp_path / "d.csv", label_column="label")
    assert x.dtype == np.float32 and x.tolist() == [[0.5, 2.0], [1.5, 3.0]]
    assert y.dtype == np.int64 and y.tolist() == [1, 0]


def test_load_csv_without_header_default_last_column(tmp_path):
    (tmp_path / "d.csv").write_text('1,2,0.25\n\n3,"4",0.75\n')
    x, y = load_arrays(tmp_path / "d.csv")
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert y.dtype == np.float32 and y.tolist() == [0.25, 0.75]
    x, y = load_arrays(tmp_path / "d.csv", label_column=0)
    assert y.tolist() == [1, 3] and x.shape == (2, 2)
    x, y = load_arrays(tmp_path / "d.csv", label_column=None)
    assert y is None and x.shape == (2, 3)


_INDEX = r" \(a row index\? pandas: to_csv\(index=False\); R: write.csv\(row.names=FALSE\)\)"


@pytest.mark.parametrize(
    "text, message",
    [
        # pandas' to_csv(), index=True by default: its row index, unnamed, as a first column
        (",a,b,label\n0,5.1,3.5,0\n1,4.9,3.0,1\n",
         rf"d.csv: column 1 \(index 0\) has no name in the header row{_INDEX}; a header names "
         "every column$"),
        # R's write.csv(), row.names=TRUE by default: the same, quoted
        ('"","a","label"\n"1",1.5,0\n"2",3,1\n', r"column 1 \(index 0\) has no name"),
        # pandas' file read and saved again: the index column named as pandas names it
        ("Unnamed: 0,a,label\n0,1.5,0\n1,3,1\n",
         rf"column 1 \(index 0\) is named 'Unnamed: 0', pandas' name for none, in the header "
         f"row{_INDEX}"),
        ("Unnamed: 0,0,1\n0,1.5,0\n1,3,1\n", r"column 1 \(index 0\) is named 'Unnamed: 0'"),
        # a nameless column elsewhere: no hint of an index
        ("a,,label\n1,2,0\n3,4,1\n", r"column 2 \(index 1\) has no name in the header row;"),
        # pandas' index above numbered columns, or a missing first value: either way, said
        (",0,1,2\n0,0.5,1.5,1\n1,2.5,3.5,0\n",
         rf"line 1, column 1 \(index 0\) is empty above numbers: a missing value, or a header's "
         f"unnamed column{_INDEX}$"),
        # a missing value in a first row of data whose labels are names (no header at all)
        ("0.1,,0.6,dog\n0.2,-0.5,0.3,dog\n1.3,0.9,-0.7,cat\n",
         r"line 1, column 2 \(index 1\) is empty above numbers: a missing value, or a header's "
         r"unnamed column$"),
        # a header over no rows: said as such, not as a nameless column
        (",a,label\n", "d.csv: no data rows after the header$"),
    ],
)  # fmt: skip
def test_a_header_names_every_column_of_numbers(tmp_path, text, message):
    """A nameless column above numbers was read as a feature (pandas' row index: a leak of the
    row order), or a first data row with a missing value as the header."""
    (tmp_path / "d.csv").write_text(text)
    for label_column in (-1, "label", None):
        with pytest.raises(DataError, match=message):
            load_arrays(tmp_path / "d.csv", label_column=label_column)


def test_a_first_row_counting_0_1_2_is_data_with_a_warning(tmp_path):
    """pandas' default column names (``DataFrame(array).to_csv(index=False)``, also with a named
    column added) read as they always were, a row of data, with a warning saying so and what to
    do; none for two columns (``0,1`` is a likely row of data) or a header of names."""
    (tmp_path / "d.csv").write_text("0,1,2,3\n0.5,1.5,2.5,1\n")
    with pytest.warns(UserWarning) as caught:
        x, y = load_arrays(tmp_path / "d.csv")
    assert x.tolist() == [[0, 1, 2], [0.5, 1.5, 2.5]] and y.tolist() == [3, 1]
    (message,) = [str(w.message) for w in caught]
    assert message == (
        f"{tmp_path / 'd.csv'}: the first row (0,1,2,3) is read as data, as a first row of "
        "numbers or labels always is; if it is pandas' default column names, save with "
        "to_csv(header=False) or name the columns"
    )
    assert caught[0].filename == __file__  # the caller's line
    (tmp_path / "wide.csv").write_text(",".join(map(str, range(10))) + "\n" + "0.5," * 9 + "1\n")
    (tmp_path / "named.csv").write_text("0,1,2,species\n0.5,1.5,2.5,cat\n0.5,1.5,2.5,dog\n")
    for name, row in (("wide.csv", "0,1,2,...,8,9"), ("named.csv", "0,1,2,species")):
        with pytest.warns(UserWarning, match=f"the first row \\({re.escape(row)}\\) is read"):
            load_arrays(tmp_path / name)
    (tmp_path / "two.csv").write_text("0,1\n0.5,1\n")
    (tmp_path / "header.csv").write_text("a,b,label\n0,1,2\n")
    (tmp_path / "other.csv").write_text("0,1,3\n0.5,1,1\n")
    (tmp_path / "labels.csv").write_text("0,1,cat\n0.5,1,dog\n")  # counts 2 cells: data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("two.csv", "header.csv", "other.csv", "labels.csv"):
            load_arrays(tmp_path / name)


def test_a_table_file_named_idx_is_a_table(tmp_path):
    """A .csv or .npz file with "idx" in its name was refused as an IDX images file."""
    (tmp_path / "rapidx.csv").write_text("a,label\n0.5,1\n1.5,0\n2.5,1\n")
    np.savez(tmp_path / "idx_rows.npz", x=np.ones((3, 2)), y=np.array([0, 1, 0]))
    rows = recipes.load_dataset(str(tmp_path / "rapidx.csv"), test_size=None, seed=0)
    assert rows.x_test.tolist() == [[0.5], [1.5], [2.5]]
    rows = recipes.load_dataset(str(tmp_path / "idx_rows.npz"), test_size=None, seed=0)
    assert rows.x_test.shape == (3, 2)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\0\0\x08\x01\0\0\0\0")
    with pytest.raises(DataError, match="looks like an IDX images file: give its labels"):
        recipes.load_dataset(str(tmp_path / "train-images-idx3-ubyte"), test_size=None, seed=0)


def test_read_labels_false_drops_the_label_column_unread(tmp_path):
    """Rows to predict from: the label column's cells (blank, names, numbers) are not read,
    and a feature that is no number is still an error naming its cell."""
    (tmp_path / "d.csv").write_text("a,kind,b\n0.5,,2\n1.5,cat,3\n")
    x, y = load_arrays(tmp_path / "d.csv", label_column="kind", read_labels=False)
    assert y is None and x.dtype == np.float32 and x.tolist() == [[0.5, 2.0], [1.5, 3.0]]
    assert load_arrays(tmp_path / "d.csv", label_column=1, read_labels=False)[0].shape == (2, 2)
    with pytest.raises(DataError, match=r"line 2, column 2 \('kind'\): no label"):
        load_arrays(tmp_path / "d.csv", label_column="kind")
    (tmp_path / "e.csv").write_text("a,kind,b\n0.5,,x\n")
    with pytest.raises(DataError, match=r"line 2, column 3 \('b'\): 'x' is not a number"):
        load_arrays(tmp_path / "e.csv", label_column="kind", read_labels=False)
    (tmp_path / "n.csv").write_text("a,kind,b\n0.5,nan,2\n1.5,1,inf\n")  # labels as numbers
    with pytest.raises(DataError, match=r"line 2, column 2 \('kind'\): 'nan' is not a finite"):
        load_arrays(tmp_path / "n.csv", label_column="kind")
    with pytest.raises(DataError, match=r"line 3, column 3 \('b'\): 'inf' is not a finite"):
        load_arrays(tmp_path / "n.csv", label_column="kind", read_labels=False)
    (tmp_path / "n.csv").write_text("a,kind,b\n0.5,nan,2\n1.5,1,3\n")
    x, y = load_arrays(tmp_path / "n.csv", label_column="kind", read_labels=False)
    assert y is None and x.tolist() == [[0.5, 2.0], [1.5, 3.0]]
    assert x.flags.c_contiguous  # as read_labels=True gives them (it came in Fortran order)
    for labels in (("", "1"), ("1", ""), ("cat", "1"), ("1", "cat")):  # either path
        (tmp_path / "m.csv").write_text("a,kind,b\n0.5,{},2\n1.5,{},3\n".format(*labels))
        x, _ = load_arrays(tmp_path / "m.csv", label_column="kind", read_labels=False)
        assert x.tolist() == [[0.5, 2.0], [1.5, 3.0]] and x.flags.c_contiguous, labels


@pytest.mark.parametrize(
    "rows, expected",
    [("1.0,2.0,3.0,cat\n9.9,1.0,2.0,3.0,cat\n", "line 3 has 5 cells, expected 4"),
     ("1.0,2.0,3.0\n", "line 2 has 3 cells, expected 4"),  # the label's cell the missing one
     ("1.0,2.0,3.0,cat,\n", "line 2 has 5 cells, expected 4"),  # a comma after the rows only
     ("1.0,2.0,3.0,0\n9.9,1.0,2.0,3.0,1\n", "line 3 has 5 cells, expected 4")],  # numbers
)  # fmt: skip
def test_read_labels_false_refuses_a_row_of_another_width(tmp_path, rows, expected):
    """Rows to predict from were read by position whatever their width: an inserted cell
    shifted every feature after it, silently (the other commands refused the same file)."""
    (tmp_path / "r.csv").write_text("width,height,depth,label\n" + rows)
    with pytest.raises(DataError, match=expected):
        load_arrays(tmp_path / "r.csv", label_column="label", read_labels=False)


def test_lines_of_spaces_or_tabs_are_blank_lines(tmp_path):
    """A line of a space or a tab (left at the end of edited files) gave NumPy's error, naming
    a row by NumPy's count and advising its usecols."""
    (tmp_path / "w.csv").write_text("a,b,label\n1,2,cat\n \n3,4,dog\n\t\n")
    x, y = load_arrays(tmp_path / "w.csv", label_column="label")
    assert x.tolist() == [[1, 2], [3, 4]] and y.tolist() == [0, 1]
    features, _ = load_arrays(tmp_path / "w.csv", label_column="label", read_labels=False)
    assert features.shape == (2, 2)
    (tmp_path / "n.csv").write_text("a,b,label\n1,2,0\n3,4,1\n   \n")
    assert load_arrays(tmp_path / "n.csv", label_column=None)[0].shape == (2, 3)
    # CRLF line ends, other kinds of spaces (a row of empty cells is no blank line: below)
    for blank in (" \r\n", "\u00a0\n", "\f\n", "\t\r\n"):
        lines = "a,b,label\n1,2,0\n" + blank + "3,4,1\n"
        (tmp_path / "b.csv").write_bytes(lines.replace("\n", "\r\n" if "\r" in blank else "\n")
                                         .replace("\r\r", "\r").encode())  # fmt: skip
        for column in ("label", None):
            assert len(load_arrays(tmp_path / "b.csv", label_column=column)[0]) == 2, blank


@pytest.mark.parametrize("empty", [",,,", " , ,\t,", '"","","",""'])
@pytest.mark.parametrize(
    "options",
    [{"label_column": "label"}, {"label_column": None}, {"label_column": "label",
     "read_labels": False}, {"label_column": "label", "ignore_columns": "id"}],  # fmt: skip
)
def test_a_row_of_empty_cells_is_an_error_naming_its_line(tmp_path, empty, options):
    """Review 70, finding 2: a row whose cells were all empty (a spreadsheet's deleted record)
    was skipped without a word, so predict's row numbers after it named the wrong lines; a row
    with one empty cell was an error naming its line.  Blank lines are still skipped."""
    rows = ["id,a,b,label", "u1,1,2,0", empty, "", "u3,3,4,1"]
    for end in ("\n", "\r\n"):
        (tmp_path / "e.csv").write_bytes(end.join(rows + [""]).encode())
        with pytest.raises(DataError, match=r"^\S+e.csv: line 3: all 4 cells are empty \(a "
                           r"deleted record\?\); delete the line or fill its cells$"):  # fmt: skip
            load_arrays(tmp_path / "e.csv", **{"ignore_columns": "id", **options})
    del rows[2]  # the blank line alone
    (tmp_path / "b.csv").write_text("\n".join(rows) + "\n")
    assert len(load_arrays(tmp_path / "b.csv", "label", ignore_columns="id")[0]) == 2


@pytest.mark.parametrize("end", ["\n", "\r\n"])
@pytest.mark.parametrize("tail", [",,,", ",,,\n,,,\n\n , ,\t,", ",,,\n\n,,,\n"])
def test_rows_of_empty_cells_after_the_table_are_skipped(tmp_path, end, tail):
    """A spreadsheet exports its blank rows below the table as lines of commas: they move no
    row's number, so they are skipped (one between rows is an error, above)."""
    text = end.join(["id,a,b,label", "u1,1,2,0", "u3,3,4,1", *tail.split("\n")])
    (tmp_path / "t.csv").write_bytes(text.encode())
    for options in ({"label_column": "label"}, {"label_column": None},
                    {"label_column": "label", "read_labels": False}):  # fmt: skip
        assert len(load_arrays(tmp_path / "t.csv", ignore_columns="id", **options)[0]) == 2


@pytest.mark.parametrize("first", ["0.5,NA,1", "0.5,null,1", "NA,2.5,0", "NA,NA,NA", "NA,null,1"])
def test_a_first_row_of_numbers_and_a_missing_value_is_data_not_a_header(tmp_path, first):
    """Review 80: a headerless file's first row with a missing value was read as a header (the
    missing value a column name above a number), its row dropped without a word."""
    (tmp_path / "h.csv").write_text(f"{first}\n0.7,2,0\n0.1,3,1\n0.2,4,0\n")
    cell = [c for c in first.split(",") if c in ("NA", "null")][0]
    with pytest.raises(DataError, match=rf"h.csv: line 1, column \d \(index \d\): '{cell}' is "):
        load_arrays(tmp_path / "h.csv")


def test_missing_values_beside_a_label_name_in_the_first_row_are_data(tmp_path):
    """Review 84: NA,NA,cat above 1,2,dog was a header (NA a column's name above a number), its
    row dropped without a word; a missing value's mark names no column."""
    (tmp_path / "n.csv").write_text("NA,NA,cat\n1,2,dog\n3,4,cat\n")
    with pytest.raises(DataError, match=r"n.csv: line 1, column 1 \(index 0\): 'NA' is not a "):
        load_arrays(tmp_path / "n.csv")
    (tmp_path / "h.csv").write_text("id,NA,value\n1,2,3\n4,5,6\n")  # one named NA: a header
    assert load_arrays(tmp_path / "h.csv", label_column="value")[0].shape == (2, 2)


def test_a_first_line_of_empty_cells_or_a_single_row_of_numbers_and_text(tmp_path):
    """Review 84: ,, on line 1 was "an empty CSV file" (between rows: all cells empty, a
    deleted record); one row holding numbers and text was a header ("no data rows")."""
    (tmp_path / "e.csv").write_text(",,\n1,2,0\n3,4,1\n")
    with pytest.raises(DataError, match=r"e.csv: line 1: all 3 cells are empty \(a deleted"):
        load_arrays(tmp_path / "e.csv")
    (tmp_path / "one.csv").write_text("1,0.5,cat\n")
    x, y = load_arrays(tmp_path / "one.csv")[:2]
    assert x.shape == (1, 2) and len(y) == 1
    (tmp_path / "names.csv").write_text("a,b,label\n")
    with pytest.raises(DataError, match="no data rows after the header"):
        load_arrays(tmp_path / "names.csv")


@pytest.mark.parametrize("row", ["NA,NA,yes", ",,yes", "null,NA,yes", "N/A,2,yes"])
def test_missing_values_below_the_header_are_named_not_the_header(tmp_path, row):
    """Review 70, finding 4: missing values in every numeric cell of the first data row hid the
    header (no name above a number), and the error blamed it: "line 1, column 1: 'a' is not a
    number"."""
    (tmp_path / "m.csv").write_text(f"a,b,label\n{row}\n1,2,no\n3,4,yes\n")
    cell = row.split(",")[0]
    with pytest.raises(DataError, match=rf"m.csv: line 2, column 1 \('a'\): '{cell}' is not a "):
        load_arrays(tmp_path / "m.csv", "label")
    assert header_row(tmp_path / "m.csv") == ["a", "b", "label"]
    # a first row of data above a row without its label (rows to predict from) stays data
    (tmp_path / "p.csv").write_text("0.5,1.2,yes\n0.3,0.1,\nNA,NA,no\n1,2,\n")
    assert header_row(tmp_path / "p.csv") is None


def test_lines_ending_in_a_carriage_return_alone_are_named_as_such(tmp_path):
    """Python's csv advice ("open the file in universal-newline mode?") is a coder's."""
    (tmp_path / "mac.csv").write_bytes(b"a,b,label\r1,2,0\r3,4,1\r")
    for column in ("label", None):
        with pytest.raises(DataError, match=r"mac.csv: a carriage return \(CR\) stands alone, "
                           r"not before a line feed \(old Mac text\); save it with LF or CRLF "
                           r"line ends$"):
            load_arrays(tmp_path / "mac.csv", label_column=column)


def test_auto_label_column_takes_a_column_named_like_labels(tmp_path):
    (tmp_path / "named.csv").write_text("a,Target,b\n1,7,2\n3,8,4\n")
    x, y = load_arrays(tmp_path / "named.csv", label_column="auto")
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]] and y.tolist() == [7, 8]
    assert resolve_label_column(tmp_path / "named.csv") == "Target"
    (tmp_path / "plain.csv").write_text("1,7,2\n3,8,4\n")  # no header: the last column
    assert load_arrays(tmp_path / "plain.csv", label_column="auto")[1].tolist() == [2, 4]
    assert resolve_label_column(tmp_path / "plain.csv") == 2
    assert resolve_label_column(tmp_path / "plain.csv", -3) == 0
    assert resolve_label_column(tmp_path / "named.csv", -1) == "b"
    assert resolve_label_column(tmp_path / "named.csv", None) is None
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 2)), y=np.arange(2))
    assert load_arrays(tmp_path / "d.npz", label_column="auto")[1].tolist() == [0, 1]
    assert resolve_label_column(tmp_path / "d.npz") is None


def test_a_label_column_by_index_under_a_repeated_header_name_is_that_column(tmp_path):
    rows = [(k + 0.5, 10 * k, k % 2) for k in range(10)]  # the labels: column 2, also named x
    text = "x,b,x\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows)
    (tmp_path / "d.csv").write_text(text)
    data = recipes.load_dataset(str(tmp_path / "d.csv"), label_column=2, test_size=0.3)
    assert data.task == "classification" and data.label_column == 2  # "x" would be column 0
    x = np.concatenate([data.x_train, data.x_test])
    y = np.concatenate([data.y_train, data.y_test])
    assert sorted(map(tuple, np.column_stack([x, y]).tolist())) == sorted(rows)
    assert resolve_label_column(tmp_path / "d.csv", 1) == "b"  # a name only where it is unique
    with pytest.raises(DataError, match=r"2 columns are named 'x' \(0, 2\); give the index"):
        load_arrays(tmp_path / "d.csv", label_column="x")


def test_loading_a_csv_data_set_reads_the_file_once(tmp_path, monkeypatch):
    (tmp_path / "d.csv.gz").write_bytes(gzip.compress(b"a,b,Label\n" + b"1,2,0\n3,4,1\n" * 5))
    reads = []

    def counted(path):
        reads.append(path)
        return read_bytes(path)

    monkeypatch.setattr(userdata, "read_bytes", counted)
    data = recipes.load_dataset(str(tmp_path / "d.csv.gz"), test_size=0.2)
    assert data.label_column == "Label" and len(reads) == 1


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("a,b,c", r"no column is named label, target, y, class; the columns are \['a', 'b', 'c'\]"),
        ("label,y,c", r"several columns could hold them \(\['label', 'y'\]\)"),
    ],
)
def test_auto_label_column_does_not_guess(tmp_path, header, message):
    (tmp_path / "d.csv").write_text(f"{header}\n1,2,3\n")
    for load in (load_arrays, resolve_label_column):
        with pytest.raises(DataError, match=message + ".*: name one with --label-column"):
            load(tmp_path / "d.csv", label_column="auto")


def test_load_csv_gz(tmp_path):
    (tmp_path / "d.csv.gz").write_bytes(gzip.compress(b"a,b,y\n1,2,3\n"))
    x, y = load_arrays(tmp_path / "d.csv.gz")
    assert x.tolist() == [[1.0, 2.0]] and y.tolist() == [3]


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("a,b,y\n1,2,0\n3,oops,1\n", {}, r"line 3, column 2 \('b'\): 'oops' is not a number"),
        ("1,2,0\n3,,1\n", {}, "line 2, column 2 \\(index 1\\): '' is not a number"),
        ("a,b,y\n1,2,0\n3,4\n", {}, "line 3 has 2 cells, expected 3"),
        ("1,2,0\n", {"label_column": "y"}, "is a name but the file has no header"),
        (
            "a,b,y\n1,2,0\n",
            {"label_column": "label"},
            r"no column named 'label'; .*\['a', 'b', 'y'\]",
        ),
        ("1,2,0\n", {"label_column": 3}, "label column index 3 is out of range for 3 columns"),
        ("a,b,y\n", {}, "no data rows"),
        ("", {}, "empty CSV"),
        ("1\n2\n", {}, "has 1 column"),
        ("1,2,0\n1,1_000,0\n", {}, "line 2, column 2 \\(index 1\\): '1_000' is not a number"),
        ("a,b\n1,0\nnan,1\n", {}, r"line 3, column 1 \('a'\): 'nan' is not a finite number "
         r"\(missing data\?\); drop or fill it"),
        ("a,b\n1,0\n\n2,inf\n", {}, r"line 4, column 2 \('b'\): 'inf' is not a finite number"),
        ("a,b,kind\n1,2,cat\n3, NaN ,dog\n", {"label_column": "kind"},
         r"line 3, column 2 \('b'\): 'NaN' is not a finite number"),  # labels that are names
        (
            "a,b\n1e39,0\n",
            {},
            r"d.csv: line 2, column 1 \('a'\): '1e39' is beyond float32's range "
            r"\(±3.403e\+38\), in which CSV files are read, --dtype float64 too: scale the "
            r"column \(divide it by a power of ten\)$",  # named as other cells (review 70, 80)
        ),
        ("a,b\n1,0\n2,-4e38\n", {}, r"expected y within float32's range .* -4e\+38 in sample 1"),
    ],
)
def test_load_csv_errors(tmp_path, text, kwargs, message):
    (tmp_path / "d.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        load_arrays(tmp_path / "d.csv", **kwargs)


def test_load_arrays_unsupported_or_missing(tmp_path):
    with pytest.raises(DataError, match="unsupported file type.*load_idx_pair"):
        load_arrays(tmp_path / "d.parquet")
    with pytest.raises(DataError, match="no such file"):
        load_arrays(tmp_path / "missing.csv")


def test_load_npy_features_only(tmp_path):
    np.save(tmp_path / "img.npy", np.full((2, 3, 3), 255, np.uint8))
    x, y = load_arrays(tmp_path / "img.npy", label_column=None)
    assert y is None and x.shape == (2, 9) and x.dtype == np.float32 and np.all(x == 1.0)
    np.save(tmp_path / "one.npy", np.arange(4.0))
    assert load_arrays(tmp_path / "one.npy", label_column=None)[0].shape == (1, 4)
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan]]))
    with pytest.raises(DataError, match="NaN or infinite"):
        load_arrays(tmp_path / "nan.npy", label_column=None)
    np.save(tmp_path / "empty.npy", np.zeros((0, 4)))
    with pytest.raises(DataError, match=r"at least one row, got shape \(0, 4\)"):
        load_arrays(tmp_path / "empty.npy", label_column=None)
    with pytest.raises(DataError, match=r"features only, no labels; put .*save_arrays"):
        load_arrays(tmp_path / "img.npy")  # .npy holds no labels


def npy_with_header(header: str) -> bytes:
    """An .npy file of version 1.0 with ``header`` (padded as NumPy pads it) and no data."""
    text = header.encode("latin1")
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


@pytest.mark.parametrize(
    "header, expected",
    [  # NumPy raised TypeError sorting a bytes key with the others (found by the loaders' fuzz)
        ("{'descr': '|u1', b'fortran_order': False, 'shape': (0,), }",
         "not a readable .npy array .*'<' not supported"),
        # a negative size made "declares shape (-1,) of uint8 (-1 bytes) but 0 bytes follow"
        ("{'descr': '|u1', 'fortran_order': False, 'shape': (-1,), }",
         r"declares shape \(-1,\), with a size below 0"),
        ("{'descr': '|u1', 'fortran_order': False, 'shape': (-1, -1), }",
         r"declares shape \(-1, -1\), with a size below 0"),
        # memory-mapped, an unclosed literal raised tokenize's TokenError
        ("{'descr': '|u1', 'fortran_order': False, 'shape': (0,), ",
         "not a readable .npy array .*EOF in multi-line statement"),
    ],
)  # fmt: skip
def test_a_damaged_npy_header_is_one_line_data_error(tmp_path, header, expected):
    """Read or memory-mapped (one header rule for both: they had two, each missing errors)."""
    (tmp_path / "bad.npy").write_bytes(npy_with_header(header) + b"\x00")
    with pytest.raises(DataError, match=expected):
        load_arrays(tmp_path / "bad.npy", label_column=None)
    with pytest.raises(DataError, match=expected):
        memmap_arrays(tmp_path / "bad.npy")


def test_labels_that_are_not_classes_show_a_value_as_its_dtype_prints_it():
    """A float32 label printed at float64's precision read 0.6728000044822693."""
    from nudgenet.data.labels import encode_labels

    with pytest.raises(DataError, match=r"got float32 values such as 0\.6728$"):
        encode_labels(np.array([0.6728, 1.0], np.float32), ["a", "b"], "f.csv")


def test_float16_labels_are_read_without_an_overflow_warning(tmp_path):
    """2**63, the bound of labels int64 holds, was cast to float16 (inf) to compare with float16
    labels: a RuntimeWarning, an error where warnings are (the loaders' fuzz test found it)."""
    np.savez(tmp_path / "h.npz", x=np.eye(3), y=np.array([1.0, 2.0, 0.5], dtype=np.float16))
    np.savez(tmp_path / "w.npz", x=np.eye(2), y=np.array([1.0, 2.0], dtype=np.float16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_arrays(tmp_path / "h.npz")[1].dtype == np.float32  # targets: 0.5 is no class
        assert load_arrays(tmp_path / "w.npz")[1].tolist() == [1, 2]  # whole: class labels
