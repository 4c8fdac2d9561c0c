"""Tiny pipelines of every supported family, built from configs (no downloads), for the tests.

Each builder returns a stock diffusers pipeline with random weights, small enough to run a few
steps on CPU in well under a second, and the generation size it is meant for. The text encoders are
tiny and use the embedded word-level tokenizer (offline). ``save(pipe, folder)`` writes it with
``save_pretrained`` plus the ``pdit_model.json`` hint file, so the CLI loads it like any folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

TEXT_LEN = 16
SIZE = dict(height=32, width=32, frames=9, steps=4)


def _tokenizer():
    from profiling_dit.embedded.tiny import build_tokenizer

    tok = build_tokenizer()
    tok.model_max_length = 512
    return tok


def hunyuan_pipeline(seed: int = 0, layers: int = 2, single_layers: int = 3):
    from diffusers import (AutoencoderKLHunyuanVideo, FlowMatchEulerDiscreteScheduler, HunyuanVideoPipeline,
                           HunyuanVideoTransformer3DModel)
    from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel

    torch.manual_seed(seed)
    tok = _tokenizer()
    te = LlamaModel(LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=3,
                                num_attention_heads=2, num_key_value_heads=2, pad_token_id=0))
    te2 = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                       num_attention_heads=2, projection_dim=8, max_position_embeddings=77,
                                       pad_token_id=0, bos_token_id=0, eos_token_id=1))
    tr = HunyuanVideoTransformer3DModel(in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=8,
                                        num_layers=layers, num_single_layers=single_layers, num_refiner_layers=1,
                                        patch_size=1, patch_size_t=1, text_embed_dim=16, pooled_projection_dim=8,
                                        rope_axes_dim=(2, 2, 4))
    vae = AutoencoderKLHunyuanVideo(latent_channels=4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
                                    norm_num_groups=4)
    pipe = HunyuanVideoPipeline(text_encoder=te, tokenizer=tok, transformer=tr, vae=vae,
                                scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), text_encoder_2=te2,
                                tokenizer_2=tok)
    return _eval(pipe)


def cogvideox_pipeline(seed: int = 0, layers: int = 4):
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXPipeline, CogVideoXTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    tok = _tokenizer()
    te = T5EncoderModel(T5Config(vocab_size=len(tok), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                                 relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1))
    tr = CogVideoXTransformer3DModel(num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4,
                                     time_embed_dim=8, text_embed_dim=16, num_layers=layers, sample_width=4,
                                     sample_height=4, sample_frames=9, patch_size=1, temporal_compression_ratio=4,
                                     max_text_seq_length=TEXT_LEN, use_rotary_positional_embeddings=True)
    vae = AutoencoderKLCogVideoX(
        down_block_types=("CogVideoXDownBlock3D",) * 4, up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2,
        temporal_compression_ratio=4)
    pipe = CogVideoXPipeline(tokenizer=tok, text_encoder=te, vae=vae, transformer=tr,
                             scheduler=CogVideoXDDIMScheduler())
    return _eval(pipe)


def wan_i2v_pipeline(seed: int = 0, layers: int = 3):
    from diffusers import (AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline,
                           WanTransformer3DModel)
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    tok = _tokenizer()
    te = UMT5EncoderModel(UMT5Config(vocab_size=len(tok), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                                     relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1))
    enc = CLIPVisionModel(CLIPVisionConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=2,
                                           num_attention_heads=2, image_size=32, patch_size=8, projection_dim=8))
    proc = CLIPImageProcessor(crop_size=32, size={"shortest_edge": 32})
    vae = AutoencoderKLWan(base_dim=4, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True], latents_mean=[0.0] * 4, latents_std=[1.0] * 4)
    tr = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=4 + 4 + 4,
                               out_channels=4, text_dim=16, freq_dim=16, ffn_dim=32, num_layers=layers,
                               cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
                               image_dim=8)
    pipe = WanImageToVideoPipeline(tokenizer=tok, text_encoder=te, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(),
                                   image_processor=proc, image_encoder=enc, transformer=tr)
    return _eval(pipe)


def wan22_pipeline(seed: int = 0, layers: int = 3, layers_2: int = 2):
    """Wan2.2 A14B-style: ``transformer`` for high-noise steps, ``transformer_2`` (another block count
    here, so a profile made for one cannot pass for the other) for low-noise steps."""
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    tok = _tokenizer()
    te = UMT5EncoderModel(UMT5Config(vocab_size=len(tok), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                                     relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1))
    vae = AutoencoderKLWan(base_dim=4, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True], latents_mean=[0.0] * 4, latents_std=[1.0] * 4)

    def transformer(n):
        return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=4,
                                     out_channels=4, text_dim=16, freq_dim=16, ffn_dim=32, num_layers=n,
                                     cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32)

    pipe = WanPipeline(tokenizer=tok, text_encoder=te, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(),
                       transformer=transformer(layers), transformer_2=transformer(layers_2), boundary_ratio=0.5)
    return _eval(pipe)


def ltx_pipeline(seed: int = 0, layers: int = 3):
    """LTX-Video with a tiny T5 and a VAE that compresses 8 times in space (patch_size 1; the real one 32) and 8 in
    time: the token grid comes from the VAE config either way (`vae_spatial_from_config`)."""
    from diffusers import (AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline,
                           LTXVideoTransformer3DModel)
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    tok = _tokenizer()
    te = T5EncoderModel(T5Config(vocab_size=len(tok), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                                 relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1))
    tr = LTXVideoTransformer3DModel(in_channels=4, out_channels=4, patch_size=1, patch_size_t=1,
                                    num_attention_heads=2, attention_head_dim=8, cross_attention_dim=16,
                                    num_layers=layers, caption_channels=16)
    vae = AutoencoderKLLTXVideo(latent_channels=4, block_out_channels=(8, 8, 8, 8),
                                decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
                                decoder_layers_per_block=(1, 1, 1, 1, 1), patch_size=1, patch_size_t=1)
    pipe = LTXPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=te, tokenizer=tok,
                       transformer=tr)
    return _eval(pipe)


def ltx2_pipeline(seed: int = 0, layers: int = 3):
    """LTX-2 with both streams (video and audio), a tiny Gemma 3 text encoder, its text connectors, a VAE that
    compresses 2 times in space and in time (the real one 32 and 8: the test reads the temporal one from the config),
    the audio VAE and the vocoder."""
    from diffusers import (AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video, FlowMatchEulerDiscreteScheduler,
                           LTX2Pipeline, LTX2VideoTransformer3DModel)
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    torch.manual_seed(seed)
    tok = _tokenizer()
    te = Gemma3ForConditionalGeneration(Gemma3Config(
        text_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, head_dim=8, vocab_size=len(tok)),
        vision_config=dict(hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                           image_size=28, patch_size=14),
        mm_tokens_per_image=4))
    text_layers = te.config.text_config.num_hidden_layers
    tr = LTX2VideoTransformer3DModel(
        in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
        audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=layers, qk_norm="rms_norm_across_heads",
        caption_channels=16, rope_double_precision=False, rope_type="split")
    connectors = LTX2TextConnectors(
        caption_channels=16, text_proj_in_factor=text_layers + 1, video_connector_num_attention_heads=2,
        video_connector_attention_head_dim=8, video_connector_num_layers=1,
        video_connector_num_learnable_registers=None, audio_connector_num_attention_heads=2,
        audio_connector_attention_head_dim=8, audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None, connector_rope_base_seq_len=32, rope_theta=10000.0,
        rope_double_precision=False, causal_temporal_positioning=False, rope_type="split")
    vae = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,), decoder_block_out_channels=(8,),
        layers_per_block=(1,), decoder_layers_per_block=(1, 1), spatio_temporal_scaling=(True,),
        decoder_spatio_temporal_scaling=(True,), decoder_inject_noise=(False, False), downsample_type=("spatial",),
        upsample_residual=(False,), upsample_factor=(1,), timestep_conditioning=False, patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False)
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, attn_resolutions=None, in_channels=2,
        resolution=32, latent_channels=2, norm_type="pixel", causality_axis="height", dropout=0.0,
        mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True, mel_bins=8)
    vocoder = LTX2Vocoder(
        in_channels=2 * 8, hidden_channels=32, out_channels=2, upsample_kernel_sizes=[4, 4], upsample_factors=[2, 2],
        resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]], leaky_relu_negative_slope=0.1,
        output_sampling_rate=16000)
    pipe = LTX2Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, audio_vae=audio_vae, text_encoder=te,
                        tokenizer=tok, connectors=connectors, transformer=tr, vocoder=vocoder)
    return _eval(pipe)


def wan22_5b_pipeline(seed: int = 0, layers: int = 3):
    """Wan2.2 TI2V 5B-style: one transformer on the Wan2.2 VAE (48 latent channels, its own 2 x 2 patch, 16 times
    smaller in space, so height and width are multiples of 16 x the transformer's patch 2 = 32), and a timestep per
    token (``expand_timesteps``)."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel

    torch.manual_seed(seed)
    tok = _tokenizer()
    vae = AutoencoderKLWan(base_dim=4, z_dim=48, in_channels=12, out_channels=12, is_residual=True, patch_size=2,
                           dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True],
                           scale_factor_spatial=16, scale_factor_temporal=4, latents_mean=[0.0] * 48,
                           latents_std=[1.0] * 48)
    tr = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=48,
                               out_channels=48, text_dim=16, freq_dim=16, ffn_dim=32, num_layers=layers,
                               cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
    pipe = WanPipeline(tokenizer=tok, text_encoder=_umt5(tok), vae=vae, transformer=tr, expand_timesteps=True,
                       scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                                         flow_shift=5.0))
    return _eval(pipe)


def _umt5(tok):
    from transformers import UMT5Config, UMT5EncoderModel

    return UMT5EncoderModel(UMT5Config(vocab_size=len(tok), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                                       relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1))


def _wan21_vae():
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(base_dim=4, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                            temperal_downsample=[False, True, True], latents_mean=[0.0] * 4, latents_std=[1.0] * 4)


def _skyreels_transformer(layers: int, in_channels: int = 4, image_dim: int | None = None):
    from diffusers import SkyReelsV2Transformer3DModel

    return SkyReelsV2Transformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8,
                                        in_channels=in_channels, out_channels=4, text_dim=16, freq_dim=16, ffn_dim=32,
                                        num_layers=layers, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                                        rope_max_seq_len=32, image_dim=image_dim)


def skyreels_pipeline(seed: int = 0, layers: int = 3):
    """SkyReels-V2 text-to-video: Wan2.1's shape (UMT5, the Wan VAE) with its own transformer class."""
    from diffusers import SkyReelsV2Pipeline, UniPCMultistepScheduler

    torch.manual_seed(seed)
    tok = _tokenizer()
    pipe = SkyReelsV2Pipeline(tokenizer=tok, text_encoder=_umt5(tok), transformer=_skyreels_transformer(layers),
                              vae=_wan21_vae(), scheduler=UniPCMultistepScheduler(flow_shift=8.0, use_flow_sigmas=True,
                                                                                  prediction_type="flow_prediction"))
    return _eval(pipe)


def skyreels_i2v_pipeline(seed: int = 0, layers: int = 3):
    """SkyReels-V2 image-to-video: the latents, the first frame's latents and a 4-channel mask in; a CLIP image
    encoder's hidden states beside the text."""
    from diffusers import SkyReelsV2ImageToVideoPipeline, UniPCMultistepScheduler
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    tok = _tokenizer()
    enc = CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=2,
                                                         num_attention_heads=2, image_size=32, patch_size=8,
                                                         projection_dim=8))
    proc = CLIPImageProcessor(crop_size=32, size={"shortest_edge": 32})
    pipe = SkyReelsV2ImageToVideoPipeline(
        tokenizer=tok, text_encoder=_umt5(tok), image_encoder=enc, image_processor=proc,
        transformer=_skyreels_transformer(layers, in_channels=4 + 4 + 4, image_dim=8), vae=_wan21_vae(),
        scheduler=UniPCMultistepScheduler(flow_shift=5.0, use_flow_sigmas=True, prediction_type="flow_prediction"))
    return _eval(pipe)


def kandinsky5_pipeline(seed: int = 0, layers: int = 3):
    """Kandinsky 5 T2V: a tiny Qwen2.5-VL (behind a Qwen2-VL processor over the word-level tokenizer, with the image
    and video tokens it checks for) and a tiny CLIP for the pooled text, the HunyuanVideo VAE, one text block and
    ``layers`` visual blocks, their modulations random (diffusers starts them at zero)."""
    from diffusers import (AutoencoderKLHunyuanVideo, FlowMatchEulerDiscreteScheduler, Kandinsky5T2VPipeline,
                           Kandinsky5Transformer3DModel)
    from transformers import (CLIPTextConfig, CLIPTextModel, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration,
                              Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor)

    torch.manual_seed(seed)
    tok, qwen_tok = _tokenizer(), _tokenizer()
    qwen_tok.add_special_tokens({"additional_special_tokens": ["<|image_pad|>", "<|video_pad|>", "<|vision_start|>",
                                                               "<|vision_end|>"]})
    rope = {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"}
    qwen = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(
        text_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=2, vocab_size=len(qwen_tok), rope_scaling=rope),
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=16),
        vocab_size=len(qwen_tok)))
    processor = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(), tokenizer=qwen_tok,
                                 video_processor=Qwen2VLVideoProcessor())
    clip = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, projection_dim=8, max_position_embeddings=77,
                                        pad_token_id=0, bos_token_id=0, eos_token_id=1))
    vae = AutoencoderKLHunyuanVideo(latent_channels=4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
                                    norm_num_groups=4)
    tr = Kandinsky5Transformer3DModel(in_visual_dim=4, out_visual_dim=4, in_text_dim=16, in_text_dim2=8, time_dim=16,
                                      patch_size=(1, 2, 2), model_dim=16, ff_dim=32, num_text_blocks=1,
                                      num_visual_blocks=layers, axes_dims=(2, 2, 4))
    with torch.no_grad():  # its modulations start at zero (every block the identity): random ones instead
        for name, module in tr.named_modules():
            if name.endswith("modulation.out_layer"):
                module.weight.normal_(std=0.5)
                module.bias.normal_(std=0.5)
    pipe = Kandinsky5T2VPipeline(transformer=tr, vae=vae, text_encoder=qwen, tokenizer=processor, text_encoder_2=clip,
                                 tokenizer_2=tok, scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0))
    return _eval(pipe)


def hunyuan15_pipeline(seed: int = 0, layers: int = 3):
    """HunyuanVideo 1.5 T2V: a tiny Qwen2.5-VL text model (the chat template its pipeline applies, on the word-level
    tokenizer), a tiny T5 over the ByT5 byte tokenizer, a HunyuanVideo 1.5 VAE 8 times smaller in space (the real one
    16: the token grid comes from its config), and the guider that holds the guidance scale."""
    from diffusers import (AutoencoderKLHunyuanVideo15, FlowMatchEulerDiscreteScheduler, HunyuanVideo15Pipeline,
                           HunyuanVideo15Transformer3DModel)
    from diffusers.guiders import ClassifierFreeGuidance
    from transformers import ByT5Tokenizer, Qwen2_5_VLTextConfig, Qwen2_5_VLTextModel, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    tok = _tokenizer()
    tok.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                         "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    rope = {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"}
    qwen = Qwen2_5_VLTextModel(Qwen2_5_VLTextConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                                    num_attention_heads=2, num_key_value_heads=2, vocab_size=len(tok),
                                                    rope_scaling=rope))
    byt5_tok = ByT5Tokenizer()
    byt5 = T5EncoderModel(T5Config(vocab_size=len(byt5_tok), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                                   relative_attention_num_buckets=8))
    tr = HunyuanVideo15Transformer3DModel(in_channels=4 + 4 + 1, out_channels=4, num_attention_heads=2,
                                          attention_head_dim=8, num_layers=layers, num_refiner_layers=1, mlp_ratio=2.0,
                                          patch_size=1, patch_size_t=1, text_embed_dim=16, text_embed_2_dim=16,
                                          image_embed_dim=8, rope_axes_dim=(2, 2, 4), target_size=32, task_type="t2v")
    vae = AutoencoderKLHunyuanVideo15(latent_channels=4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
                                      spatial_compression_ratio=8, temporal_compression_ratio=4,
                                      downsample_match_channel=False, upsample_match_channel=False)
    pipe = HunyuanVideo15Pipeline(text_encoder=qwen, tokenizer=tok, transformer=tr, vae=vae,
                                  scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), text_encoder_2=byt5,
                                  tokenizer_2=byt5_tok, guider=ClassifierFreeGuidance(guidance_scale=6.0))
    return _eval(pipe)


def _eval(pipe):
    for module in pipe.components.values():
        if isinstance(module, torch.nn.Module):
            module.eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def size(name: str) -> dict:
    """The generation size the builder ``name`` is meant for: ``SIZE``, or its own (``SIZES``)."""
    return {**SIZE, **SIZES.get(name, {})}


def save(pipe, folder: Path, steps: int | None = None, size: dict | None = None) -> Path:
    folder = Path(folder)
    size = size or SIZE
    pipe.save_pretrained(folder, safe_serialization=True)
    (folder / "pdit_model.json").write_text(json.dumps({
        "max_sequence_length": TEXT_LEN, "trained": False, "description": "test pipeline (random weights)",
        "default_height": size["height"], "default_width": size["width"], "default_frames": size["frames"],
        "default_steps": steps or size["steps"]}))
    return folder


BUILDERS = {"hunyuanvideo": hunyuan_pipeline, "cogvideox": cogvideox_pipeline, "wan-i2v": wan_i2v_pipeline,
            "wan2.2": wan22_pipeline, "ltx-video": ltx_pipeline, "skyreels-v2": skyreels_pipeline,
            "skyreels-v2-i2v": skyreels_i2v_pipeline, "wan2.2-ti2v-5b": wan22_5b_pipeline,
            "kandinsky5": kandinsky5_pipeline, "hunyuanvideo-1.5": hunyuan15_pipeline, "ltx-2": ltx2_pipeline}
IMAGE_TO_VIDEO = {"wan-i2v", "skyreels-v2-i2v"}  # the builders whose pipelines take a first frame
STEPS = {"wan2.2": 8}  # enough steps for each expert to have a plan of its own
SIZES = {"wan2.2-ti2v-5b": dict(height=64, width=64)}  # a VAE 16 times smaller in space: 2 x 2 tokens a frame
