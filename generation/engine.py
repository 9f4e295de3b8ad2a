"""The diffusers engine: a batch of compatible requests in, one pipeline call, one result each.

``generate`` reads like diffusers' own ``__call__``: validate every request up front, load the
model, encode the prompts (compel, cached), make each image's noise from its own CPU generator,
denoise with progress, cancellation and prompt editing in ``callback_on_step_end``, decode, check
with the model's safety checker (recorded, never blacked out), and package PNGs with A1111's
``parameters`` text. A request's image equals what a plain diffusers call with the same model,
scheduler, steps, guidance, size, prompts and generator produces.

The lock covers the device work only: PNG encoding (tens of ms per image) happens after it is
released, so with two slots (``local_slots``, a worker's ``--capacity``) the next batch denoises
while this one encodes.
"""

from __future__ import annotations

import io
import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from generation import flow_runtime, masks, schedulers, seeds, sizes
from generation.adapters import ActiveLora, EmbeddingLoader, LoraSwitch, job_loras
from generation.conditioning import PromptEncoder, check_syntax
from generation.config import EngineConfig
from generation.engine_api import CancelCheck, ProgressCallback
from generation.errors import InvalidRequest
from generation.families import traits
from generation.guides import BatchGuides, GuideRuntime, resolve_guides
from generation.input_store import InputMissing
from generation.loading import LoadedModel, PipelineLoader
from generation.png import COMPEL_KEY, encode_png, format_parameters
from generation.preview import preview_png
from generation.requests import (
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    StepProgress,
    Timings,
)
from generation.tiling import check_tile, circular_padding


@dataclass
class _Image:
    """One image of the batch: which request it belongs to and what makes it."""

    request: int
    seed: int
    subseed: int | None
    prompt: str
    source: str
    """What the user wrote for this image (the PNG's ``parameters``); ``prompt`` is compel."""

    def positive_at(self, step: int, request: GenerationRequest) -> str:
        """The positive prompt in force at (0-based) ``step``, after the request's edits."""
        text = self.prompt
        for edit in sorted(request.prompt_edits, key=lambda e: e.from_step):
            if edit.from_step <= step:
                text = edit.prompt
        return text


@dataclass
class _Batch:
    requests: list[GenerationRequest]
    model: LoadedModel
    images: list[_Image]
    width: int  # of the output
    height: int
    init_images: list[Any] = field(default_factory=list)  # img2img/upscale, one per image
    masks: list[Any] = field(default_factory=list)  # inpaint: binary L masks, one per image
    timings: Timings = field(default_factory=Timings)
    cancelled: set[str] = field(default_factory=set)
    started: float = 0.0  # perf_counter() when the batch began, its load included
    loras: list[ActiveLora] = field(default_factory=list)  # the model's own, then the request's
    guides: BatchGuides = field(default_factory=BatchGuides)  # references, ControlNet

    def shape(self) -> tuple[int, int, int, bool]:
        """What the UNet's input shape depends on: images, size, guidance doubling the batch."""
        return (len(self.images), self.height, self.width, self.requests[0].guidance > 1)

    @property
    def adapters(self) -> tuple[tuple[str, float], ...]:
        """The active LoRAs as a key (the prompt cache keys encodings by it)."""
        return tuple((lora.spec.name, lora.weight) for lora in self.loras)


class DiffusersEngine:
    """``ImageEngine`` on local diffusers pipelines. One ``generate`` runs at a time.

    ``preview_every=N`` adds a latent preview PNG to the progress report every N steps; a batch
    then reports one ``StepProgress`` per request, each with a preview of its own images only.
    """

    def __init__(
        self,
        loader: PipelineLoader,
        config: EngineConfig,
        *,
        preview_every: int = 0,
        prompt_cache_size: int = 256,
    ) -> None:
        self.loader = loader
        self.config = config
        self.preview_every = preview_every
        self.encoder = PromptEncoder(prompt_cache_size)
        self.loras = LoraSwitch(config.cache_dir)
        self.embeddings = EmbeddingLoader(config.cache_dir)
        self.guides = GuideRuntime(config.cache_dir)
        self._lock = threading.Lock()
        self._warming = False

    @property
    def device(self) -> str:
        """Where the pipelines run (``cpu``, ``cuda:0``, ``mps``), resolved from the config."""
        return self.loader.placement.device

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        on_progress: ProgressCallback | None = None,
        is_cancelled: CancelCheck | None = None,
    ) -> list[GenerationResult]:
        """Requests sharing ``batch_key()`` run as one pipeline call; results keep input order."""
        groups: dict[tuple[object, ...], list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(request.batch_key(), []).append(index)
        results: dict[int, GenerationResult] = {}
        with self._lock:
            batches = [self._prepare([requests[i] for i in group]) for group in groups.values()]
            made = [self._run(batch, on_progress, is_cancelled or _never) for batch in batches]
        for group, batch, pictures in zip(groups.values(), batches, made, strict=True):
            results.update(zip(group, self._package(batch, pictures), strict=True))
        return [results[index] for index in range(len(requests))]

    def warm_up(self, models: Sequence[str] | None = None) -> list[str]:
        """Load ``models`` (default: the default model) now and, with ``compile_unet``, compile
        them for the warm-up shapes, so no member's request waits for a load or a compile.

        Blocking (seconds per load, tens of seconds per compiled shape): call it at start-up,
        off the event loop. Returns one line per shape compiled, for the log.
        """
        done: list[str] = []
        for name in models or [self.config.default_model]:
            model = self.loader.get(name)
            if not self.config.compile_unet:
                continue
            spec = model.spec
            native = spec.native_size if spec is not None else (512, 512)
            guidance = self.config.default_guidance
            if spec is not None and spec.guidance is not None:
                guidance = spec.guidance
            scheduler = (spec.scheduler if spec else None) or self.config.default_scheduler
            shapes = [
                (width, height, images)
                for width, height in self.config.warmup_shapes(native)
                for images in self.config.warmup_images
            ]
            if self.config.compile_shapes == "dynamic":
                shapes = shapes[:1]  # one symbolic graph serves every shape
            _allow_recompiles(len(shapes))
            for width, height, images in shapes:
                started = time.perf_counter()
                requests = [
                    GenerationRequest(
                        prompt="warm up",
                        model=name,
                        width=width,
                        height=height,
                        steps=2,
                        guidance=guidance,
                        scheduler=scheduler,
                        count=min(4, images - 4 * part),
                        seed=part,
                    )
                    for part in range(math.ceil(images / 4))
                ]
                self._warming = True
                try:
                    self.generate(requests)
                finally:
                    self._warming = False
                model.warm_shapes.add((images, height, width, guidance > 1))
                seconds = time.perf_counter() - started
                done.append(f"{name} {width}x{height} × {images}: compiled in {seconds:.1f} s")
        return done

    # 1. Load the model and validate every request against it, before any work is done.
    def _prepare(self, requests: list[GenerationRequest]) -> _Batch:
        started = time.perf_counter()
        first = requests[0]
        model = self._model_for(first)
        load_seconds = time.perf_counter() - started
        width, height = first.width, first.height
        if first.mode == "upscale":  # its own rule: the family's factor within its own limit
            width, height = sizes.upscale_size(
                model.family, width, height, self.config.max_upscale_pixels
            )
        else:
            sizes.check_size(model.family, width, height, self.config.max_pixels)
        _check_family(model, first)
        if first.mode != "txt2img" and int(first.steps * first.strength) < 1:
            least = math.ceil(1 / first.strength)
            raise InvalidRequest(
                "steps",
                f"img2img runs steps × strength = {first.steps} × {first.strength} steps, "
                f"less than one; use at least {least} steps or a higher strength",
            )
        images: list[_Image] = []
        for number, request in enumerate(requests):
            check_syntax("prompt", request.prompt)
            check_syntax("negative_prompt", request.negative_prompt)
            if request.negative_prompt.strip() and traits(model.family).guidance == "distilled":
                raise InvalidRequest(
                    "negative_prompt",
                    f"{traits(model.family).label} models take no negative prompt (their "
                    "guidance is distilled into the model); leave it empty",
                )
            for text in request.per_image_prompts or []:
                check_syntax("per_image_prompts", text)
            for edit in request.prompt_edits:
                check_syntax("prompt_edits", edit.prompt)
                if edit.from_step >= request.steps:
                    raise InvalidRequest(
                        "prompt_edits",
                        f"an edit starts at step {edit.from_step}; use 0..{request.steps - 1}",
                    )
            if request.subseed is not None and request.mode != "txt2img":
                raise InvalidRequest("subseed", "variation seeds apply to txt2img requests only")
            seed = request.seed if request.seed is not None else seeds.draw_seed()
            subseeds: list[int | None] = [None] * request.count
            if request.subseed is not None and request.subseed_strength > 0:
                subseeds = list(seeds.image_seeds(request.subseed, request.count))
            prompts = request.per_image_prompts or [request.prompt] * request.count
            sources = (
                request.per_image_source_prompts
                or [request.source_prompt if request.source_prompt is not None else request.prompt]
                * request.count
            )
            images += [
                _Image(number, image_seed, subseed, prompt, source)
                for image_seed, subseed, prompt, source in zip(
                    seeds.image_seeds(seed, request.count), subseeds, prompts, sources, strict=True
                )
            ]
        batch = _Batch(requests, model, images, width, height, timings=Timings(load=load_seconds))
        batch.loras = job_loras(self.loader.catalog, model.family, model.spec, first.loras)
        batch.guides = resolve_guides(self.loader.catalog, model, first)
        if traits(model.family).textual_inversion:
            texts = [*(i.prompt for i in images), *(r.negative_prompt for r in requests)]
            texts += [edit.prompt for r in requests for edit in r.prompt_edits]
            embeddings = self.loader.catalog.embeddings_for(model.family)
            self.embeddings.ensure(model.pipe, embeddings, texts)
        if first.mode != "txt2img":
            batch.init_images = _init_images(batch)
        if first.mode == "inpaint":
            batch.masks = _masks(batch)
        return batch

    def _model_for(self, request: GenerationRequest) -> LoadedModel:
        """The loaded model that paints ``request``: for a masked edit, the catalog's
        inpainting checkpoint of the model when it names one (``inpaint``), else the model."""
        catalog = self.loader.catalog
        if request.mode == "inpaint":
            return self.loader.get(catalog.inpainter(request.model).name)
        if request.model in catalog and catalog.resolve(request.model).inpainting:
            raise InvalidRequest(
                "model",
                f"{request.model} is an inpainting checkpoint: it paints masked edits only "
                "(zoom out, pan, vary region); choose another model",
            )
        return self.loader.get(request.model)

    def _run(
        self, batch: _Batch, on_progress: ProgressCallback | None, is_cancelled: CancelCheck
    ) -> dict[int, tuple[Any, bool | None]]:
        """The device work of a batch: each kept image's picture and safety verdict."""
        batch.started = time.perf_counter() - batch.timings.load
        batch.cancelled = {r.request_id for r in batch.requests if is_cancelled(r.request_id)}
        made: dict[int, tuple[Any, bool | None]] = {}
        if len(batch.cancelled) < len(batch.requests):
            with (
                self.loras.applied(batch.model.pipe, batch.loras),
                self.guides.references(batch.model, batch.guides),
                _vae_tiling(batch.model.pipe.vae, batch.requests[0].mode == "upscale"),
                circular_padding(_painters(batch.model), batch.requests[0].tile),
            ):
                latents = self._denoise(batch, on_progress, is_cancelled)
                keep = [
                    i
                    for i, image in enumerate(batch.images)
                    if batch.requests[image.request].request_id not in batch.cancelled
                ]
                pictures = self._decode(batch, latents, keep) if keep else []
            if batch.masks:
                pictures = _blend_masked(batch, pictures, keep)
            verdicts = self._check_safety(batch, pictures)
            made = dict(zip(keep, zip(pictures, verdicts, strict=True), strict=True))
        return made

    def _unet(self, batch: _Batch, pipe: Any) -> Any:
        """The UNet for this batch. With ``compile_unet``, what ``warm_up`` compiled runs
        compiled (in "warmup" mode its shapes, in "dynamic" mode every shape of a warmed
        model) and anything else runs eager, so no request waits for a compile."""
        model = batch.model
        denoiser = getattr(model.pipe, model.denoiser_name)
        if not self.config.compile_unet or self._warming or model.eager_unet is denoiser:
            return nullcontext()
        if self.config.compile_shapes == "dynamic":
            warmed = bool(model.warm_shapes)
        else:
            warmed = batch.shape() in model.warm_shapes
        return nullcontext() if warmed else _swapped(pipe, model.denoiser_name, model.eager_unet)

    # 2–5. Scheduler, prompts, noise, denoising loop.
    def _denoise(
        self, batch: _Batch, on_progress: ProgressCallback | None, is_cancelled: CancelCheck
    ) -> Any:
        import torch

        first = batch.requests[0]
        model = batch.model
        pipe = self.guides.pipeline(model, batch.guides, first.mode)
        pipe.set_progress_bar_config(disable=True)
        scheduler = schedulers.build(first.scheduler, model.pipe.scheduler.config)
        steps = first.steps
        run_steps = steps if first.mode == "txt2img" else min(int(steps * first.strength), steps)
        skipped = steps - run_steps  # img2img starts part-way down the schedule

        encode_started = time.perf_counter()
        negatives = [batch.requests[image.request].negative_prompt for image in batch.images]
        schedule = _PromptSchedule(batch, steps)
        texts = sorted({*negatives, *schedule.all_texts()})
        padded = dict(zip(texts, self._padded(model, texts, batch.adapters), strict=True))
        positive = _stack(padded, schedule.texts_at(skipped))
        negative = _stack(padded, negatives)
        batch.timings.encode = time.perf_counter() - encode_started

        kwargs: dict[str, Any] = {
            "prompt_embeds": positive.embeds,
            "negative_prompt_embeds": negative.embeds,
            "num_inference_steps": steps,
            "guidance_scale": first.guidance,
            "output_type": "latent",
        }
        flow = traits(model.family).flow
        if flow:
            kwargs |= flow_runtime.conditioning(
                model.family, pipe, positive, negative, first.guidance
            )
            if model.family == "flux":
                del kwargs["negative_prompt_embeds"]
        elif model.family == "sdxl":
            kwargs["pooled_prompt_embeds"] = positive.pooled
            kwargs["negative_pooled_prompt_embeds"] = negative.pooled
        if first.mode == "txt2img":
            kwargs |= self._noise(batch, pipe, positive.embeds)
        else:
            kwargs["image"] = batch.init_images
            kwargs["strength"] = first.strength
            if traits(model.family).flow or batch.masks:  # these resize to width × height
                kwargs |= {"width": batch.width, "height": batch.height}
            if batch.masks:
                kwargs["mask_image"] = batch.masks
            kwargs["generator"] = [torch.Generator("cpu").manual_seed(i.seed) for i in batch.images]
        kwargs |= self._guide_kwargs(batch, pipe)
        callback = _StepCallback(
            batch, on_progress, is_cancelled, self.preview_every, schedule, padded, skipped, steps
        )
        kwargs["callback_on_step_end"] = callback
        kwargs["callback_on_step_end_tensor_inputs"] = callback.tensor_inputs(model.family, pipe)

        denoise_started = time.perf_counter()
        with _swapped(pipe, "scheduler", scheduler), self._unet(batch, pipe):
            latents = pipe(**kwargs).images
        batch.timings.denoise = time.perf_counter() - denoise_started
        return latents

    def _guide_kwargs(self, batch: _Batch, pipe: Any) -> dict[str, Any]:
        """References' image embeddings and the ControlNet condition (``generation.guides``)."""
        guides, first = batch.guides, batch.requests[0]
        img2img = first.mode != "txt2img"
        kwargs = self.guides.control_kwargs(guides, batch.width, batch.height, img2img)
        if guides.references:
            guided = first.guidance > 1 and pipe.unet.config.time_cond_proj_dim is None
            embeds = self.guides.reference_embeds(batch.model, guides, guided)
            kwargs["ip_adapter_image_embeds"] = embeds
        return kwargs

    def _padded(self, model: LoadedModel, texts: list[str], adapters: object) -> list[Any]:
        encoded = [self.encoder.encode(model, text, adapters) for text in texts]
        embeds = self.encoder.pad([item.embeds for item in encoded], model, adapters)
        return [(e, item.pooled) for e, item in zip(embeds, encoded, strict=True)]

    def _noise(self, batch: _Batch, pipe: Any, embeds: Any) -> dict[str, Any]:
        """Each image's starting noise and generator (see ``seeds.initial_noise``)."""
        import torch

        if traits(batch.model.family).flow:
            latents, generators = flow_runtime.initial_latents(
                batch.model.family,
                pipe,
                batch.width,
                batch.height,
                [
                    (image.seed, image.subseed, batch.requests[image.request].subseed_strength)
                    for image in batch.images
                ],
                embeds.dtype,
            )
            return {
                "latents": latents,
                "generator": generators,
                "width": batch.width,
                "height": batch.height,
            }
        shape = (
            1,
            pipe.unet.config.in_channels,
            batch.height // pipe.vae_scale_factor,
            batch.width // pipe.vae_scale_factor,
        )
        noises, generators = [], []
        for image in batch.images:
            request = batch.requests[image.request]
            noise, generator = seeds.initial_noise(
                shape,
                image.seed,
                dtype=embeds.dtype,
                device=pipe._execution_device,
                subseed=image.subseed,
                subseed_strength=request.subseed_strength,
            )
            noises.append(noise)
            generators.append(generator)
        return {
            "latents": torch.cat(noises),
            "generator": generators,
            "width": batch.width,
            "height": batch.height,
        }

    # 6. Decode the kept images the way the pipeline would have.
    def _decode(self, batch: _Batch, latents: Any, keep: list[int]) -> list[Any]:
        import torch

        started = time.perf_counter()
        pipe = batch.model.pipe
        vae = pipe.vae
        latents = latents[keep]
        with torch.no_grad():
            if traits(batch.model.family).flow:
                pixels = flow_runtime.decode(
                    batch.model.family, pipe, latents, batch.width, batch.height
                )
            elif batch.model.family == "sdxl":
                pixels = _decode_sdxl(vae, latents)
            else:
                pixels = vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0]
            watermark = getattr(pipe, "watermark", None)
            if watermark is not None:
                pixels = watermark.apply_watermark(pixels)
            images = pipe.image_processor.postprocess(pixels, output_type="pil")
        batch.timings.decode = time.perf_counter() - started
        return list(images)

    # 7. The model's own safety checker: its verdict is recorded, the image is left as it is.
    def _check_safety(self, batch: _Batch, pictures: list[Any]) -> list[bool | None]:
        checker, extractor = batch.model.safety_checker, batch.model.feature_extractor
        if checker is None or extractor is None or not pictures:
            return [None] * len(pictures)
        import numpy as np
        import torch

        started = time.perf_counter()
        parameter = next(checker.parameters())
        clip_input = extractor(pictures, return_tensors="pt").pixel_values
        arrays = np.stack([np.asarray(p, dtype=np.float32) / 255.0 for p in pictures])
        with torch.no_grad():
            _, flags = checker(
                images=arrays, clip_input=clip_input.to(parameter.device, parameter.dtype)
            )
        batch.timings.safety = time.perf_counter() - started
        return [bool(flag) for flag in flags]

    # 8. One result per request, PNGs carrying A1111's parameters (after the lock is released).
    def _package(
        self, batch: _Batch, made: dict[int, tuple[Any, bool | None]]
    ) -> list[GenerationResult]:
        encoded = {}
        for index, (picture, _nsfw) in made.items():
            image = batch.images[index]
            request = batch.requests[image.request]
            parameters = self._parameters(request, image, batch)
            compel = {COMPEL_KEY: _compel_text(request, image)}
            encoded[index] = (parameters, encode_png(picture, parameters, compel))
        batch.timings.total = time.perf_counter() - batch.started
        results = [
            GenerationResult(
                request_id=request.request_id,
                model=request.model,
                scheduler=schedulers.resolve(request.scheduler).name,
                timings=batch.timings.model_copy(),
                cancelled=request.request_id in batch.cancelled,
            )
            for request in batch.requests
        ]
        for index, (_picture, nsfw) in sorted(made.items()):
            image = batch.images[index]
            request = batch.requests[image.request]
            parameters, png = encoded[index]
            results[image.request].images.append(
                GeneratedImage(
                    png=png,
                    seed=image.seed,
                    subseed=image.subseed,
                    subseed_strength=request.subseed_strength if image.subseed is not None else 0,
                    width=batch.width,
                    height=batch.height,
                    prompt=image.prompt,
                    negative_prompt=request.negative_prompt,
                    parameters=parameters,
                    model_nsfw=nsfw,
                )
            )
        return results

    def _parameters(self, request: GenerationRequest, image: _Image, batch: _Batch) -> str:
        """A1111's text with what the user wrote (A1111 and ComfyUI parse it as A1111 syntax)."""
        varied = image.subseed is not None
        edited = request.mode != "txt2img"
        distilled = traits(batch.model.family).guidance == "distilled"
        loras = ", ".join(f"{name}:{weight:g}" for name, weight in batch.adapters)
        negative = request.source_negative
        return format_parameters(
            image.source,
            negative if negative is not None else request.negative_prompt,
            {
                "Steps": request.steps,
                "Sampler": schedulers.resolve(request.scheduler).name,
                "CFG scale": 1 if distilled else request.guidance,
                "Distilled CFG Scale": request.guidance if distilled else None,
                "LoRAs": loras or None,
                "Seed": image.seed,
                "Size": f"{batch.width}x{batch.height}",
                "Model": request.model,
                "Variation seed": image.subseed if varied else None,
                "Variation seed strength": request.subseed_strength if varied else None,
                "Denoising strength": request.strength if edited else None,
                "Mask blur": masks.feather_for(batch.width, batch.height) if batch.masks else None,
                "Init image hash": (
                    request.init_image_sha256 if request.mode == "img2img" else None
                ),
                "Tiling": "True" if request.tile else None,
                "Hires upscale": (
                    f"{batch.width / request.width:.3g}" if request.mode == "upscale" else None
                ),
                **batch.guides.parameters(),
            },
        )


def _never(request_id: str) -> bool:
    return False


def _check_family(model: LoadedModel, request: GenerationRequest) -> None:
    """The request's sampler and steps against what the model's family and entry allow."""
    family = traits(model.family)
    name = schedulers.resolve(request.scheduler).name
    if family.schedulers is not None and name not in family.schedulers:
        raise InvalidRequest(
            "scheduler",
            f"{family.label} models sample with {' or '.join(family.schedulers)} only "
            f"(flow matching), not {name}",
        )
    if request.tile:
        check_tile(model.family)
    most = model.spec.max_steps if model.spec is not None else None
    if most is not None and request.steps > most:
        raise InvalidRequest(
            "steps", f"{request.steps} steps is too many for {model.name}; use 1..{most}"
        )


def _compel_text(request: GenerationRequest, image: _Image) -> str:
    """What the model got, in compel syntax, as JSON under the PNG's ``compel`` key: the
    positive at step 0, the negative, and the positive's edits (prompt editing, alternation)."""
    return json.dumps(
        {
            "prompt": image.prompt,
            "negative_prompt": request.negative_prompt,
            "prompt_edits": [edit.model_dump() for edit in request.prompt_edits],
        },
        ensure_ascii=False,
    )


@contextmanager
def _swapped(pipe: Any, name: str, value: Any) -> Iterator[None]:
    """``pipe.<name>`` is ``value`` for the block, then what it was (the engine's lock is held)."""
    saved = getattr(pipe, name)
    if saved is value:
        yield
        return
    setattr(pipe, name, value)
    try:
        yield
    finally:
        setattr(pipe, name, saved)


def _allow_recompiles(graphs: int) -> None:
    """Let torch.compile keep a graph per warm-up shape (its default limit is 8 per function)."""
    import torch._dynamo

    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    setattr(config, name, max(getattr(config, name), graphs + 1))


@contextmanager
def _vae_tiling(vae: Any, wanted: bool) -> Iterator[None]:
    """VAE tiling on for the block (hires upscale), then back as the config left it."""
    was_on = vae.use_tiling
    if wanted and not was_on:
        vae.enable_tiling()
    try:
        yield
    finally:
        if wanted and not was_on:
            vae.disable_tiling()


def _painters(model: LoadedModel) -> list[Any]:
    """The modules whose convolutions a seamless tile wraps: the denoiser and the VAE."""
    return [getattr(model.pipe, model.denoiser_name), model.pipe.vae]


def _init_images(batch: _Batch) -> list[Any]:
    """img2img / upscale: each image's start picture, resized to the output size."""
    from PIL import Image, UnidentifiedImageError

    pictures = []
    for request in batch.requests:
        if request.init_image is None and request.init_image_sha256 is not None:
            raise InputMissing(request.init_image_sha256)
        try:
            with Image.open(io.BytesIO(request.init_image or b"")) as opened:
                picture = opened.convert("RGB")
        except (UnidentifiedImageError, OSError) as exc:
            raise InvalidRequest("init_image", f"not a readable image ({exc})") from None
        picture = picture.resize((batch.width, batch.height), Image.Resampling.LANCZOS)
        pictures += [picture] * request.count
    return pictures


def _masks(batch: _Batch) -> list[Any]:
    """inpaint: each image's mask, binary, at the output size."""
    found = []
    for request in batch.requests:
        mask = masks.read_mask(request.mask_image or b"", (batch.width, batch.height))
        found += [mask] * request.count
    return found


def _blend_masked(batch: _Batch, pictures: list[Any], keep: list[int]) -> list[Any]:
    """inpaint: each painted picture into its original through the soft mask, so what the mask
    leaves out is the original's pixels exactly and the seam fades (``generation.masks``)."""
    feather = masks.feather_for(batch.width, batch.height)
    return [
        masks.blend(picture, batch.init_images[i], masks.soft_mask(batch.masks[i], feather))
        for picture, i in zip(pictures, keep, strict=True)
    ]


def _decode_sdxl(vae: Any, latents: Any) -> Any:
    """SDXL's decode step: fp32 VAE when it overflows in fp16, latents mean/std when configured."""
    import torch

    upcast = vae.dtype == torch.float16 and vae.config.force_upcast
    if upcast:
        vae.to(dtype=torch.float32)
    latents = latents.to(next(iter(vae.post_quant_conv.parameters())).dtype)
    mean = getattr(vae.config, "latents_mean", None)
    std = getattr(vae.config, "latents_std", None)
    if mean is not None and std is not None:
        mean_t = torch.tensor(mean).view(1, 4, 1, 1).to(latents.device, latents.dtype)
        std_t = torch.tensor(std).view(1, 4, 1, 1).to(latents.device, latents.dtype)
        latents = latents * std_t / vae.config.scaling_factor + mean_t
    else:
        latents = latents / vae.config.scaling_factor
    try:
        return vae.decode(latents, return_dict=False)[0]
    finally:
        if upcast:
            vae.to(dtype=torch.float16)


@dataclass
class _Stacked:
    embeds: Any
    pooled: Any  # None for SD 1.x/2.x


def _stack(padded: dict[str, Any], texts: list[str]) -> _Stacked:
    """The batch tensors for ``texts`` from the padded per-text (embeds, pooled) pairs."""
    import torch

    pooled = [padded[text][1] for text in texts]
    return _Stacked(
        torch.cat([padded[text][0] for text in texts]),
        None if pooled[0] is None else torch.cat(pooled),
    )


class _PromptSchedule:
    """Which positive prompt each image uses at each step (prompt editing, alternation)."""

    def __init__(self, batch: _Batch, steps: int) -> None:
        self.batch = batch
        self.steps = steps

    def texts_at(self, step: int) -> list[str]:
        return [
            image.positive_at(step, self.batch.requests[image.request])
            for image in self.batch.images
        ]

    def all_texts(self) -> set[str]:
        return {text for step in range(self.steps) for text in self.texts_at(step)}


class _StepCallback:
    """``callback_on_step_end``: progress, previews, cancellation and prompt edits per step."""

    def __init__(
        self,
        batch: _Batch,
        on_progress: ProgressCallback | None,
        is_cancelled: Callable[[str], bool],
        preview_every: int,
        schedule: _PromptSchedule,
        padded: dict[str, Any],
        skipped: int,
        steps: int,
    ) -> None:
        self.batch = batch
        self.on_progress = on_progress
        self.is_cancelled = is_cancelled
        self.preview_every = preview_every
        self.schedule = schedule
        self.padded = padded
        self.skipped = skipped
        self.steps = steps
        self.edits = any(request.prompt_edits for request in batch.requests)
        self.current = schedule.texts_at(skipped)
        self.started = time.perf_counter()

    def tensor_inputs(self, family: str, pipe: Any) -> list[str]:
        """What the callback reads and may replace, of what ``pipe`` offers (SD 3's img2img
        pipeline offers no pooled embeddings: its edits change the sequence embeddings only)."""
        inputs = ["latents"] if self.preview_every else []
        if self.edits:
            inputs.append("prompt_embeds")
            if family == "sdxl":
                inputs.append("add_text_embeds")
            if family == "sd3":
                inputs.append("pooled_prompt_embeds")
        offered = getattr(pipe, "_callback_tensor_inputs", None)
        return inputs if offered is None else [name for name in inputs if name in offered]

    def __call__(self, pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict:
        batch = self.batch
        ids = [request.request_id for request in batch.requests]
        batch.cancelled |= {r for r in ids if r not in batch.cancelled and self.is_cancelled(r)}
        if len(batch.cancelled) == len(ids):
            pipe._interrupt = True  # diffusers skips the remaining steps
            return {}
        total = pipe.num_timesteps
        self._report(step + 1, total, tensors.get("latents"))
        return self._edit(pipe, step + 1, total, tensors) if self.edits else {}

    def _report(self, done: int, total: int, latents: Any) -> None:
        if self.on_progress is None:
            return
        elapsed = time.perf_counter() - self.started
        cancelled = self.batch.cancelled
        live = [r.request_id for r in self.batch.requests if r.request_id not in cancelled]
        if not (self.preview_every and latents is not None and done % self.preview_every == 0):
            report = StepProgress(request_ids=live, step=done, total_steps=total, elapsed=elapsed)
            self.on_progress(report)
            return
        for number, request in enumerate(self.batch.requests):
            if request.request_id not in live:
                continue
            rows = [i for i, image in enumerate(self.batch.images) if image.request == number]
            self.on_progress(
                StepProgress(
                    request_ids=[request.request_id],
                    step=done,
                    total_steps=total,
                    elapsed=elapsed,
                    preview=preview_png(self._unpacked(latents)[rows], self.batch.model.family),
                )
            )

    def _unpacked(self, latents: Any) -> Any:
        batch = self.batch
        model = batch.model
        return flow_runtime.unpacked(model.family, model.pipe, latents, batch.width, batch.height)

    def _edit(self, pipe: Any, upcoming: int, total: int, tensors: dict[str, Any]) -> dict:
        """Swap the positive conditioning when an edit starts at the next step."""
        if upcoming >= total:
            return {}
        step = self.skipped + upcoming * (self.steps - self.skipped) // total
        texts = self.schedule.texts_at(step)
        if texts == self.current:
            return {}
        self.current = texts
        new = _stack(self.padded, texts)
        positives = {"prompt_embeds": new.embeds}
        if self.batch.model.family == "sdxl":
            positives["add_text_embeds"] = new.pooled
        if self.batch.model.family == "sd3":
            positives["pooled_prompt_embeds"] = new.pooled
        guided = getattr(pipe, "do_classifier_free_guidance", False)  # FLUX.1: never
        return {
            name: _with_positive(tensors[name], positive, guided)
            for name, positive in positives.items()
            if name in tensors  # what the pipeline offers (``tensor_inputs``)
        }


def _with_positive(current: Any, positive: Any, guided: bool) -> Any:
    """``current`` with its positive rows replaced; under guidance it is [negative; positive]."""
    import torch

    positive = positive.to(current)
    if not guided:
        return positive
    return torch.cat([current[: current.shape[0] // 2], positive])
