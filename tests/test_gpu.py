"""The CUDA path end to end; skipped cleanly where torch has no CUDA (as in CI)."""

from __future__ import annotations

import pytest
import torch
from conftest import fast_method

from efflab import Config
from efflab.measuring.measure import measure

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch has no CUDA device here")


@cuda
@pytest.mark.gpu
@pytest.mark.parametrize(("precision", "cast"), [("fp32", "model"), ("fp16", "model"), ("bf16", "autocast")])
def test_measure_on_cuda(precision: str, cast: str) -> None:
    m = measure(
        Config(model="tiny-bert-l2", batch_size=8, seq_len=32, device="cuda", precision=precision, cast=cast),
        sensor="auto",
        method=fast_method(),
    )
    assert m.fingerprint.gpu_name
    assert m.peak_mem_bytes and m.peak_mem_bytes > 0
    assert m.mfu is not None and m.mfu > 0
    if m.energy_source == "nvml":
        assert m.energy_measured


def test_cuda_without_gpu_is_a_clear_error() -> None:
    from efflab.errors import DeviceError

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(DeviceError, match="no CUDA GPU is available.*--device cpu"):
        measure(Config(model="tiny-bert-l1", device="cuda"), sensor="fake")
