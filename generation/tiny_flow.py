"""The built-in flow-matching stand-ins: ``tiny-flux``, ``tiny-flux-schnell`` and ``tiny-sd3``.

Real diffusers classes (``FluxTransformer2DModel``, ``SD3Transformer2DModel``, ``AutoencoderKL``
with 16 latent channels, CLIP and T5 encoders) at tiny sizes, built in code with a fixed seed,
written with ``save_pretrained`` and loaded back through ``from_pretrained`` like ``tiny``. The
sizes follow diffusers' own fast tests (``get_dummy_components`` of the FLUX and SD3 pipelines),
changed where the product needs the real layout: a VAE with the real scale factor of 8 and 16
latent channels, so a 1024² request runs on 128² latents as on the real models.

No hub is needed for the tokenizers either: the CLIP tokenizer is the one ``tiny`` uses, and the
T5 tokenizer is a Unigram model (T5's kind) trained here, in a few seconds, on a built-in word
list with the ``tokenizers`` library, then wrapped in transformers' ``T5Tokenizer``.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

from generation.tiny import TINY_SEED, _vae, clip_tokenizer
from generation.tiny import _text_encoder as _clip_encoder

T5_MAX_LENGTH = 256
"""Tokens the tiny T5 encoder reads (real FLUX.1-dev: 512, schnell and SD 3.5: 256)."""

T5_SPECIALS = ("<pad>", "</s>", "<unk>")  # T5's ids 0, 1, 2

# Words the tiny T5 tokenizer is trained on: enough to give whole-word pieces for common prompt
# vocabulary; any other word splits into letters, as an unknown word does in a real T5.
_CORPUS = """
a an the of in on at with and or by from to for under over near beside behind
photo photograph painting drawing sketch illustration render portrait landscape
cat dog fox bird horse owl wolf dragon robot astronaut knight wizard woman man child
lighthouse castle city street forest mountain river lake ocean sea beach desert sky
house village garden field meadow bridge tower temple ship boat car train road
red orange yellow green blue purple pink black white grey gold silver
dusk dawn night day sunset sunrise fog rain snow storm cloud clouds moon sun stars
light lighting golden hour studio neon soft dramatic cinematic volumetric rim
oil watercolor watercolour ink pencil charcoal pastel acrylic digital art concept
close up wide shot from above below aerial view detailed highly intricate sharp
focus bokeh depth field lens mm camera film grain vintage retro modern futuristic
style anime manga cartoon realistic photorealistic hyperrealistic surreal abstract
beautiful old young small large tiny giant happy sad dark bright warm cold
blurry lowres bad anatomy hands watermark text signature worst quality low jpeg
sitting standing walking running flying swimming reading eating holding wearing
"""


def write_t5_tokenizer(folder: Path, max_length: int = T5_MAX_LENGTH) -> None:
    """Train a small T5-style (Unigram, Metaspace) tokenizer and save it with transformers."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import T5Tokenizer

    model = Tokenizer(models.Unigram())
    model.normalizer = normalizers.NFKC()
    model.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=600,
        special_tokens=list(T5_SPECIALS),
        unk_token="<unk>",
        initial_alphabet=list(string.ascii_letters + string.digits + string.punctuation),
        show_progress=False,
    )
    model.train_from_iterator(_CORPUS.strip().splitlines() * 4, trainer)
    pieces = json.loads(model.to_str())["model"]["vocab"]
    vocab = [(str(piece), float(score)) for piece, score in pieces]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=max_length)
    tokenizer.save_pretrained(folder)


def t5_tokenizer(max_length: int = T5_MAX_LENGTH) -> Any:
    """A ``T5Tokenizer`` as ``write_t5_tokenizer`` writes it (via a temporary folder)."""
    import tempfile

    from transformers import T5Tokenizer

    with tempfile.TemporaryDirectory() as folder:
        write_t5_tokenizer(Path(folder), max_length)
        return T5Tokenizer.from_pretrained(folder)


def _t5_encoder(vocab_size: int, width: int) -> Any:
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=vocab_size,
        d_model=width,
        d_ff=37,
        d_kv=8,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        dropout_rate=0.0,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    return T5EncoderModel(config)


def _flow_vae(shift_factor: float, scaling_factor: float) -> Any:
    """16 latent channels and a scale factor of 8, as FLUX's and SD3's VAEs have."""
    return _vae(
        latent_channels=16,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=shift_factor,
        scaling_factor=scaling_factor,
    )


def _build_flux(folder: Path, *, schnell: bool) -> None:
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    tokenizer_2 = t5_tokenizer()
    torch.manual_seed(TINY_SEED)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,  # 16 latent channels × a 2×2 patch
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        guidance_embeds=not schnell,
        axes_dims_rope=(4, 4, 8),
    )
    torch.manual_seed(TINY_SEED)
    vae = _flow_vae(shift_factor=0.1159, scaling_factor=0.3611)  # FLUX.1's VAE factors
    torch.manual_seed(TINY_SEED)
    text_encoder = _clip_encoder(with_projection=False)
    torch.manual_seed(TINY_SEED)
    text_encoder_2 = _t5_encoder(len(tokenizer_2), 32)
    # FLUX.1-dev shifts the schedule by image size; schnell runs an unshifted one.
    scheduler = FlowMatchEulerDiscreteScheduler(
        shift=1.0 if schnell else 3.0,
        use_dynamic_shifting=not schnell,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    )
    pipe = FluxPipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=clip_tokenizer(),
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        transformer=transformer,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


def build_tiny_flux(folder: Path) -> None:
    """FLUX.1-dev's layout: guidance-distilled (``guidance`` is an input of the transformer)."""
    _build_flux(folder, schnell=False)


def build_tiny_flux_schnell(folder: Path) -> None:
    """FLUX.1-schnell's layout: no guidance input, an unshifted schedule for 1–4 steps."""
    _build_flux(folder, schnell=True)


def build_tiny_sd3(folder: Path) -> None:
    """Stable Diffusion 3.5's layout: MMDiT, CLIP-L and CLIP-G (pooled), and T5."""
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )

    tokenizer_3 = t5_tokenizer()
    torch.manual_seed(TINY_SEED)
    transformer = SD3Transformer2DModel(
        sample_size=32,
        patch_size=2,
        in_channels=16,
        num_layers=2,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=32,
        joint_attention_dim=64,  # T5's width; the CLIP embeddings are padded to it
        pooled_projection_dim=64,  # CLIP-L's and CLIP-G's pooled embeddings side by side
        out_channels=16,
        pos_embed_max_size=96,
        qk_norm="rms_norm",
    )
    torch.manual_seed(TINY_SEED)
    vae = _flow_vae(shift_factor=0.0609, scaling_factor=1.5305)  # SD3's VAE factors
    torch.manual_seed(TINY_SEED)
    text_encoder = _clip_encoder(with_projection=True)
    torch.manual_seed(TINY_SEED + 1)
    text_encoder_2 = _clip_encoder(with_projection=True)
    torch.manual_seed(TINY_SEED)
    text_encoder_3 = _t5_encoder(len(tokenizer_3), 64)
    tokenizer = clip_tokenizer()
    pipe = StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer,
        text_encoder_3=text_encoder_3,
        tokenizer_3=tokenizer_3,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


FLOW_BUILDERS = {
    "tiny-flux": build_tiny_flux,
    "tiny-flux-schnell": build_tiny_flux_schnell,
    "tiny-sd3": build_tiny_sd3,
}
