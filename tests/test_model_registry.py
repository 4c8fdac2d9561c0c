"""What the registry says about the families and what it refuses: a model pdit does not support is refused in one line
that names its transformer class (or pipeline class) and points at docs/adding-a-model.md, before any weights load
where its saved configs tell; the aliases name the Hub's repositories; the families without context parallelism say
so in one line. The shared per-family tests on the tiny pipelines are in ``test_models.py``."""

from __future__ import annotations

import numpy as np
import pytest
import tiny_models as tm

from profiling_dit.errors import UnsupportedModelError
from profiling_dit.models import ADDING_A_MODEL, MODEL_ALIASES, PIPELINES, REFUSED_PIPELINES, pipeline_spec_for


def _one_line_naming(text: str, *names: str) -> None:
    line = text.strip()
    assert "\n" not in line, line
    for name in names:
        assert name in line, (name, line)


def test_unknown_pipeline_names_its_transformer_and_the_recipe():
    with pytest.raises(UnsupportedModelError) as e:
        pipeline_spec_for(["WanVideoToVideoPipeline"], "WanTransformer3DModel")
    _one_line_naming(str(e.value), "WanVideoToVideoPipeline", "WanTransformer3DModel", "WanPipeline", ADDING_A_MODEL)


def test_refused_pipelines_say_why():
    for name in REFUSED_PIPELINES:
        assert name not in PIPELINES
        with pytest.raises(UnsupportedModelError, match="diffusion forcing") as e:
            pipeline_spec_for([name], "SkyReelsV2Transformer3DModel")
        _one_line_naming(str(e.value), name)


@pytest.mark.parametrize("alias, repo", [
    ("skyreels-v2", "Skywork/SkyReels-V2-T2V-14B-540P-Diffusers"),
    ("skyreels-v2-720p", "Skywork/SkyReels-V2-T2V-14B-720P-Diffusers"),
    ("skyreels-v2-i2v-1.3b", "Skywork/SkyReels-V2-I2V-1.3B-540P-Diffusers"),
    ("skyreels-v2-i2v", "Skywork/SkyReels-V2-I2V-14B-540P-Diffusers"),
    ("skyreels-v2-i2v-720p", "Skywork/SkyReels-V2-I2V-14B-720P-Diffusers"),
])
def test_aliases_name_the_hub_repositories(alias, repo):
    assert MODEL_ALIASES[alias].repo_id == repo


def _flux_pipeline():
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    tok = tm._tokenizer()
    tr = FluxTransformer2DModel(patch_size=1, in_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=8,
                                num_attention_heads=2, joint_attention_dim=16, pooled_projection_dim=8,
                                axes_dims_rope=(2, 2, 4))
    te = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                      num_attention_heads=2, projection_dim=8, max_position_embeddings=77))
    te2 = T5EncoderModel(T5Config(vocab_size=len(tok), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2))
    vae = AutoencoderKL(block_out_channels=(8,), latent_channels=1, norm_num_groups=4,
                        down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",))
    return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=te, tokenizer=tok,
                        text_encoder_2=te2, tokenizer_2=tok, transformer=tr)


def _diffusion_forcing_pipeline():
    from diffusers import SkyReelsV2DiffusionForcingPipeline, UniPCMultistepScheduler

    tok = tm._tokenizer()
    return SkyReelsV2DiffusionForcingPipeline(tokenizer=tok, text_encoder=tm._umt5(tok),
                                              transformer=tm._skyreels_transformer(2), vae=tm._wan21_vae(),
                                              scheduler=UniPCMultistepScheduler())


def _video_to_video_pipeline():
    from diffusers import FlowMatchEulerDiscreteScheduler, WanTransformer3DModel, WanVideoToVideoPipeline

    tok = tm._tokenizer()
    tr = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=4,
                               out_channels=4, text_dim=16, freq_dim=16, ffn_dim=32, num_layers=2, rope_max_seq_len=32)
    return WanVideoToVideoPipeline(tokenizer=tok, text_encoder=tm._umt5(tok), transformer=tr, vae=tm._wan21_vae(),
                                   scheduler=FlowMatchEulerDiscreteScheduler())


@pytest.mark.slow
@pytest.mark.parametrize("build, names", [
    (_flux_pipeline, ("FluxTransformer2DModel", ADDING_A_MODEL)),
    (_diffusion_forcing_pipeline, ("SkyReelsV2DiffusionForcingPipeline", "SkyReelsV2Transformer3DModel",
                                   "diffusion forcing")),
    (_video_to_video_pipeline, ("WanVideoToVideoPipeline", "WanTransformer3DModel", ADDING_A_MODEL)),
], ids=["flux", "skyreels-diffusion-forcing", "wan-video-to-video"])
def test_an_unsupported_pipeline_is_refused_in_one_line(build, names, tmp_path, cli):
    """In memory (``apply`` and every library function wrap the pipeline first) and saved, from the CLI, before
    any weights load: one line naming the class, never a run that caches nothing."""
    from profiling_dit.pipeline.loading import LoadedModel, resolve_model

    pipe = build()
    with pytest.raises(UnsupportedModelError) as e:
        LoadedModel.from_pipe(pipe)
    _one_line_naming(str(e.value), *names)
    pipe.save_pretrained(tmp_path / "model")
    with pytest.raises(UnsupportedModelError) as e:
        resolve_model(str(tmp_path / "model"))
    _one_line_naming(str(e.value), *names)
    res = cli("generate", "--model", tmp_path / "model", "--prompt", "x", "--out", tmp_path / "v.npy")
    assert res.exit_code == 2
    _one_line_naming(res.output, *names)
    assert not (tmp_path / "v.npy").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["skyreels-v2", "kandinsky5", "hunyuanvideo-1.5"])
def test_families_without_context_parallelism_refuse_it_in_one_line(name, tmp_path, cli):
    folder = tm.save(tm.BUILDERS[name](), tmp_path / "model")
    res = cli("generate", "--model", folder, "--prompt", "x", "--nproc", 2, "--context-parallel", "ulysses",
              "--out", tmp_path / "v.npy")
    assert res.exit_code == 2
    _one_line_naming(res.output, "does not support context parallelism", "context-parallel plan")


@pytest.mark.slow
def test_wan22_5b_sizes_are_multiples_of_32_from_its_vae_config(tmp_path, cli, monkeypatch):
    """The Wan2.2 VAE compresses 16 times in space (Wan2.1's 8): with the transformer's 2 x 2 patch, sides are
    multiples of 32, read from the configs (a folder, the Hub, a pipeline in memory), where Wan2.1's are of 16."""
    import huggingface_hub

    from profiling_dit.caching.calibrate import calibration_size
    from profiling_dit.errors import InvalidSettingError
    from profiling_dit.pipeline.generation import GenerationSettings, generate
    from profiling_dit.pipeline.loading import LoadedModel, resolve_model

    pipe = tm.wan22_5b_pipeline(layers=1)
    folder = tm.save(pipe, tmp_path / "model")
    wan21 = tm.save(tm.wan22_pipeline(layers=1, layers_2=1), tmp_path / "wan21")
    assert resolve_model(str(wan21)).arch.spatial_multiple == 16
    source = resolve_model(str(folder))
    assert source.arch.spatial_multiple == 32 and source.arch.name == "wan"
    assert all(n % 32 == 0 for n in calibration_size(81, 704, 1280, source.arch, 0.5)[1:])
    res = cli("generate", "--model", folder, "--prompt", "x", "--height", 48, "--width", 64, "--out", tmp_path / "v.npy")
    assert res.exit_code == 2 and "multiple of 32" in res.output and "\n" not in res.output.strip()
    with pytest.raises(InvalidSettingError, match="multiple of 32"):
        generate(LoadedModel.from_pipe(pipe), GenerationSettings(prompt="x", height=48, width=64, frames=9, steps=1))

    def from_folder(repo_id, filename, **_):  # the Hub, served from the saved folder
        assert repo_id == "Wan-AI/Wan2.2-TI2V-5B-Diffusers"
        return str(folder / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", from_folder)
    hub = resolve_model("wan2.2-ti2v-5b")
    assert (hub.kind, hub.pipeline_class, hub.arch.spatial_multiple) == ("hub", "WanPipeline", 32)


@pytest.mark.slow
def test_pdit_names_the_calls_of_a_pipeline_that_sets_no_cache_context():
    """Kandinsky5T2VPipeline calls its transformer outside any cache context: pdit names them, cond then uncond at
    each timestep (cond alone without guidance), from the first call of every generation (a one-step generation
    ends on the timestep the next one starts on)."""
    from diffusers.hooks import HookRegistry, ModelHook
    from diffusers.hooks.hooks import StateManager

    from profiling_dit._compat import CallContext, ContextState
    from profiling_dit.pipeline.generation import GenerationSettings, generate
    from profiling_dit.pipeline.loading import LoadedModel

    seen = []

    class Spy(ModelHook):
        _is_stateful = True

        def __init__(self):
            super().__init__()
            self.manager = StateManager(ContextState)

        def pre_forward(self, module, *args, **kwargs):
            seen.append(CallContext.from_manager(self.manager).name)
            return args, kwargs

        def reset_state(self, module):
            return module

    model = LoadedModel.from_pipe(tm.kandinsky5_pipeline(layers=1))
    HookRegistry.check_if_exists_or_initialize(model.pipe.transformer).register_hook(Spy(), "spy")
    for steps, guidance in ((1, 5.0), (2, 5.0), (2, 1.0)):
        seen.clear()
        generate(model, GenerationSettings(prompt="x", steps=steps, guidance=guidance, height=32, width=32, frames=5))
        assert seen == (["cond", "uncond"] if guidance > 1 else ["cond"]) * steps


def test_kandinsky5_sparse_attention_is_not_profiled():
    from profiling_dit.errors import InvalidSettingError
    from profiling_dit.models.kandinsky import kandinsky5_self_attention_qk

    with pytest.raises(InvalidSettingError, match="nabla"):
        kandinsky5_self_attention_qk(None, None, sparse_params={"to_fractal": True})


@pytest.mark.slow
def test_a_guider_pipeline_takes_the_guidance_scale_and_times_its_steps():
    """HunyuanVideo15Pipeline holds its scale in its guider and takes no step callback: the settings' scale is the
    guider's for the call (1 turns the uncond branch off), its own again after, and each step is timed from its last
    transformer call; a guider that guides part of the steps only is refused."""
    from profiling_dit.errors import InvalidSettingError
    from profiling_dit.pipeline.generation import GenerationSettings, generate
    from profiling_dit.pipeline.loading import LoadedModel

    model = LoadedModel.from_pipe(tm.hunyuan15_pipeline(layers=1))
    own = model.pipe.guider
    runs = {}
    for guidance in (1.0, 3.0, 6.0):
        runs[guidance] = generate(model, GenerationSettings(prompt="a red circle", steps=2, guidance=guidance,
                                                            height=32, width=32, frames=5))
        assert model.pipe.guider is own and own.guidance_scale == 6.0
    assert [runs[g].timings.transformer_calls for g in (1.0, 3.0)] == [2, 4]
    assert all(len(r.timings.step_s) == 2 and r.timings.denoise_s > 0 for r in runs.values())
    assert not np.array_equal(runs[3.0].frames, runs[6.0].frames)
    model.pipe.guider = own.new(start=0.2)
    with pytest.raises(InvalidSettingError, match="part of the steps"):
        generate(model, GenerationSettings(prompt="x", steps=2, height=32, width=32, frames=5))


def test_ltx2_reads_its_frame_rule_and_size_rule_from_its_vae_config():
    """LTX-2's VAE says its own compression: the real one 8 in time and 32 in space, a smaller one its own."""
    from profiling_dit.models import ltx2

    arch = ltx2.FAMILY.architecture
    transformer = {"patch_size": 1, "patch_size_t": 1}
    real = arch.for_configs(transformer, {"patch_size": 4, "patch_size_t": 1,
                                          "spatio_temporal_scaling": [True, True, True, False]})
    assert (real.frame_multiple, real.spatial_multiple) == (8, 32)
    tiny = arch.for_configs(transformer, {"patch_size": 1, "patch_size_t": 1, "spatio_temporal_scaling": [True]})
    assert tiny.frame_multiple == 2 and tiny.spatial_multiple == 32  # the family's sides rule stays the floor
    said = arch.for_configs(transformer, {"temporal_compression_ratio": 4, "spatial_compression_ratio": 64})
    assert (said.frame_multiple, said.spatial_multiple) == (4, 64)
    assert arch.for_configs(transformer, {}) is arch  # a config that does not say keeps the family's rules
