from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from generation import schedulers
from generation.config import EngineConfig
from generation.engine import DiffusersEngine
from generation.errors import InvalidRequest
from generation.loading import PipelineLoader
from generation.requests import GenerationRequest

REQUIRED = (
    "DPM++ 2M", "DPM++ 2M Karras", "DPM++ SDE", "Euler", "Euler a", "Heun", "DDIM", "UniPC",
    "LMS", "PNDM",
)  # fmt: skip


def test_the_required_schedulers_are_offered() -> None:
    assert set(REQUIRED) <= set(schedulers.SCHEDULER_NAMES)


def test_the_name_table_needs_no_torch() -> None:
    code = (
        "import sys, generation.schedulers as s, generation.sizes; "
        "s.resolve('Euler a'); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidRequest) as caught:
        schedulers.resolve("Euler b")
    assert caught.value.field == "scheduler"
    assert all(name in caught.value.message for name in REQUIRED)


def test_names_forgive_case_and_spacing() -> None:
    assert schedulers.resolve("  dpm++   2m karras ").name == "DPM++ 2M Karras"


def test_each_scheduler_keeps_the_models_training_config(loader: PipelineLoader) -> None:
    base = loader.get("tiny").pipe.scheduler.config
    for name in schedulers.SCHEDULER_NAMES:
        spec = schedulers.resolve(name)
        scheduler = schedulers.build(name, base)
        assert type(scheduler).__name__ == spec.class_name
        assert scheduler.config.beta_schedule == "scaled_linear"
        assert scheduler.config.beta_end == pytest.approx(0.012)
        if "use_karras_sigmas" in scheduler.config:
            assert scheduler.config.use_karras_sigmas == spec.karras


def test_a_plain_name_drops_karras_sigmas_a_model_ships_with(loader: PipelineLoader) -> None:
    karras_base = schedulers.build("DPM++ 2M Karras", loader.get("tiny").pipe.scheduler.config)
    plain = schedulers.build("DPM++ 2M", karras_base.config)
    assert plain.config.use_karras_sigmas is False
    assert schedulers.build("DPM++ SDE", karras_base.config).config.algorithm_type == "dpmsolver++"


def test_every_scheduler_paints_and_they_differ(engine: DiffusersEngine) -> None:
    images = {}
    for name in schedulers.SCHEDULER_NAMES:
        request = GenerationRequest(
            prompt="a boat", seed=11, width=64, height=64, steps=3, scheduler=name
        )
        [result] = engine.generate([request])
        assert result.scheduler == name
        image = np.asarray(Image.open(io.BytesIO(result.images[0].png)))
        assert image.shape == (64, 64, 3)
        images[name] = image
    assert not np.array_equal(images["Euler"], images["Euler a"])
    assert not np.array_equal(images["DPM++ 2M"], images["DPM++ 2M Karras"])
    assert not np.array_equal(images["DDIM"], images["PNDM"])


def test_an_unknown_default_scheduler_is_refused_when_the_config_loads() -> None:
    with pytest.raises(ValidationError) as caught:
        EngineConfig(default_scheduler="Euler z")
    assert caught.value.errors()[0]["loc"] == ("default_scheduler",)
    assert "choose one of: DPM++ 2M" in str(caught.value)
    assert EngineConfig(default_scheduler="euler  A").default_scheduler == "euler  A"
