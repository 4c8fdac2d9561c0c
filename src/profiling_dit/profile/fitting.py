"""Whether a profile fits a model: the profiled transformer(s)' class, block count and config hash, compared with a
loaded model's, or with a resolved model's saved config before any weights load."""

from __future__ import annotations

import hashlib
import json

from ..errors import ProfileError

# Config entries that do not change the computation (paths, versions) are left out of the hash.
_HASH_IGNORED = {"_name_or_path", "_diffusers_version", "_use_default_values", "_class_name"}


def config_hash(transformer_or_config) -> str:
    """Hash of a transformer's config (a loaded model, or the dict of its saved config.json)."""
    config = transformer_or_config if isinstance(transformer_or_config, dict) else transformer_or_config.config
    cfg = {k: v for k, v in dict(config).items() if k not in _HASH_IGNORED and not k.startswith("_")}
    blob = json.dumps(cfg, sort_keys=True, default=list).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()[:16]


def model_identity(transformer, arch) -> dict:
    return {
        "transformer_class": type(transformer).__name__,
        "num_blocks": len(arch.blocks(transformer)),
        "block_names": arch.block_names(transformer),
        "config_hash": config_hash(transformer),
    }


def check_fits(profile, model) -> None:  # a Profile (file.py, which calls this: imports run one way)
    """``Profile.check_fits``: refuse (``ProfileError``) a model whose transformer(s) differ from the profiled ones."""
    from ..pipeline.loading import LoadedModel, ModelSource, as_model

    if isinstance(model, ModelSource):
        _compare(identity_from_source(model), profile.model, "the profile", "the model's")
        for expert in profile.experts[1:]:  # the first is the top level's; the others, from their saved configs
            config = model.component_config(expert.component)
            if config is not None:
                _compare({"config_hash": config_hash(config)}, expert,
                         f"the profile's block profile for {expert.component}", "the model's")
        return
    model = as_model(model) if not isinstance(model, LoadedModel) else model
    experts = model.experts
    if len(experts) > 1 or profile.experts:
        have = {e.component: e for e in profile.experts}
        if set(have) != set(experts):
            raise ProfileError(
                f"the profile was made for another model: it has block profiles for "
                f"{', '.join(have) or 'one transformer'}, the model runs {', '.join(experts)}; profile this model "
                "(`profiling_dit.profile_model`, or `pdit profile`)")
        for name in experts:
            want = model_identity(getattr(model.pipe, name), model.arch)
            _compare(want, have[name], f"the profile's block profile for {name}", "the loaded one's")
        return
    want = model_identity(model.pipe.transformer, model.arch)
    _compare(want, profile.model, "the profile", "the loaded model's")


def identity_from_source(source) -> dict:
    """The same identity as ``model_identity``, from a resolved model's saved config (no weights)."""
    ident = {"transformer_class": source.transformer_class, "config_hash": config_hash(source.transformer_config)}
    if source.arch.num_blocks_from_config is not None:
        ident["num_blocks"] = source.arch.num_blocks_from_config(source.transformer_config)
    return ident


def _compare(want: dict, have, what: str, theirs: str) -> None:
    for key, label in (("transformer_class", "transformer class"), ("num_blocks", "block count"),
                       ("config_hash", "config hash")):
        if key in want and getattr(have, key) != want[key]:
            raise ProfileError(
                f"{what} was made for another model: its {label} is {getattr(have, key)!r}, {theirs} is "
                f"{want[key]!r}; profile this model (`profiling_dit.profile_model`, or `pdit profile`)")

