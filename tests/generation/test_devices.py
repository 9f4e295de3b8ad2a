from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import torch

from generation.devices import Accelerators, Placement, configure_backends, resolve_placement
from generation.errors import InvalidRequest

GPU = Accelerators(cuda_devices=2, cuda_bf16=True)
OLD_GPU = Accelerators(cuda_devices=1, cuda_bf16=False)
MAC = Accelerators(mps=True)
CPU_ONLY = Accelerators()


@pytest.mark.parametrize(
    ("device", "dtype", "machine", "expected"),
    [
        ("auto", "auto", GPU, Placement("cuda", "fp16")),
        ("auto", "bf16", GPU, Placement("cuda", "bf16")),
        ("auto", "fp32", GPU, Placement("cuda", "fp32")),
        ("cuda:1", "auto", GPU, Placement("cuda:1", "fp16")),
        ("auto", "auto", MAC, Placement("mps", "fp16")),
        ("auto", "auto", CPU_ONLY, Placement("cpu", "fp32")),
        ("cpu", "auto", GPU, Placement("cpu", "fp32")),
    ],
)
def test_device_and_dtype_follow_the_machine_unless_overridden(
    device: str, dtype: str, machine: Accelerators, expected: Placement
) -> None:
    assert resolve_placement(device, dtype, machine) == expected


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_half_precision_on_the_cpu_falls_back_to_fp32_with_a_warning(
    dtype: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="generation.devices"):
        assert resolve_placement("cpu", dtype, GPU) == Placement("cpu", "fp32")
    assert f"engine.dtype={dtype}" in caplog.text


def test_bf16_on_a_gpu_without_it_falls_back_to_fp16(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="generation.devices"):
        assert resolve_placement("cuda", "bf16", OLD_GPU) == Placement("cuda", "fp16")
    assert "bf16" in caplog.text


@pytest.mark.parametrize(
    ("device", "machine", "message"),
    [("cuda", CPU_ONLY, "no CUDA"), ("cuda:2", GPU, "2 CUDA device"), ("mps", GPU, "mps")],
)
def test_a_device_that_is_not_there_is_a_config_error(
    device: str, machine: Accelerators, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message) as caught:
        resolve_placement(device, "auto", machine)
    assert caught.value.field == "engine.device"


def test_probe_agrees_with_torch_on_this_machine() -> None:
    probed = Accelerators.probe()
    assert bool(probed.cuda_devices) == torch.cuda.is_available()
    assert probed.mps == torch.backends.mps.is_available()


@pytest.fixture
def restore_backends() -> Iterator[None]:
    saved = (
        torch.backends.cudnn.benchmark,
        torch.backends.cuda.matmul.fp32_precision,
        torch.backends.cudnn.conv.fp32_precision,
    )
    yield
    torch.backends.cudnn.benchmark = saved[0]
    torch.backends.cuda.matmul.fp32_precision = saved[1]
    torch.backends.cudnn.conv.fp32_precision = saved[2]


@pytest.mark.usefixtures("restore_backends")
@pytest.mark.parametrize(("benchmark", "tf32"), [(True, True), (False, False), (True, False)])
def test_cuda_flags_are_set_as_configured(benchmark: bool, tf32: bool) -> None:
    configure_backends(Placement("cuda", "fp16"), cudnn_benchmark=benchmark, tf32=tf32)
    assert torch.backends.cudnn.benchmark is benchmark
    expected = "tf32" if tf32 else "ieee"
    assert torch.backends.cuda.matmul.fp32_precision == expected
    assert torch.backends.cudnn.conv.fp32_precision == expected


@pytest.mark.usefixtures("restore_backends")
def test_cuda_flags_are_left_alone_off_cuda() -> None:
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.fp32_precision = "ieee"
    configure_backends(Placement("cpu", "fp32"), cudnn_benchmark=True, tf32=True)
    assert torch.backends.cudnn.benchmark is False
    assert torch.backends.cuda.matmul.fp32_precision == "ieee"
