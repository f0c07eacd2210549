"""Every ```python block of the README runs, offline and in seconds, each on its own: a block
that continues an earlier one names what it takes from it in a comment (``# model, loss_fn:
from the MNIST example above``) and is given only those names.  The MNIST example reads a small
stand-in written here (tests/test_examples.py also runs it on the real files, when present)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import nudgenet as ng
from nudgenet.data import download

README = Path(__file__).resolve().parents[1] / "README.md"
TAKES = re.compile(r"^# ([\w, ]+): from the .+ above$", re.MULTILINE)


def python_blocks() -> list[str]:
    """The code of every ```python block of the README, in order."""
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(), re.MULTILINE | re.DOTALL)


def taken(block: str) -> list[str]:
    """The names a block says it takes from an earlier one (none: it stands alone)."""
    found = TAKES.search(block)
    return [name.strip() for name in found[1].split(",")] if found else []


def stand_in_mnist(folder: Path, rows: int = 2500) -> Path:
    """A folder of MNIST's two test files (IDX, gzip), of ``rows`` random images: enough rows
    for the README's 2,000 held out."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    images = rng.integers(0, 256, size=(rows, 28, 28), dtype=np.uint8)
    ng.datasets.save_idx(folder / "t10k-images-idx3-ubyte.gz", images)
    labels = (np.arange(rows) % 10).astype(np.uint8)
    ng.datasets.save_idx(folder / "t10k-labels-idx1-ubyte.gz", labels)
    return folder


def test_every_python_block_runs_on_its_own_given_the_names_it_says_it_takes(
    tmp_path, monkeypatch
):
    def offline(url):
        raise AssertionError(f"a README example went to the network: {url}")

    monkeypatch.setattr(download, "_fetch", offline)
    mnist = stand_in_mnist(tmp_path / "mnist")
    monkeypatch.chdir(tmp_path)  # the MNIST example saves mnist.safetensors
    blocks = python_blocks()
    assert len(blocks) >= 5 and '"path/to/mnist"' in blocks[0]
    defined: dict = {}  # every name the blocks defined so far
    for number, block in enumerate(blocks, start=1):
        names = taken(block)
        missing = [name for name in names if name not in defined]
        assert not missing, f"README python block {number} takes {missing}, never defined before"
        alone = {name: defined[name] for name in names}
        code = block.replace('"path/to/mnist"', repr(str(mnist)))
        try:
            exec(compile(code, f"README.md, python block {number}", "exec"), alone)
        except NameError as error:
            pytest.fail(f"README python block {number} uses a name it does not define or take: "
                        f"{error}\n{block}")  # fmt: skip
        defined.update(alone)
    # and what the blocks promise
    assert (tmp_path / "mnist.safetensors").is_file() and defined["report"].passed
    assert defined["check"].passed  # the nudge test
    greeks, options = defined["greeks"], defined["options"]
    assert greeks.shape == (5, 4)
    errors = np.abs(greeks[:, [0, 3]] - np.hstack([options.delta[:5], options.vega[:5]]))
    assert errors.mean(axis=0).max() < 0.06 and errors.max() < 0.2  # as the comment says


def test_the_check_of_names_can_fail():
    """A block that uses a name it neither defines nor takes is caught (the test can fail)."""
    block = "# model: from the example above\nprint(model, pricer)\n"
    assert taken(block) == ["model"]
    with pytest.raises(NameError, match="pricer"):
        exec(block, {"model": object()})
