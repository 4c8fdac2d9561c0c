"""The embedded tiny model's own tooling, not needed to run it: how it is built (``tiny``, with its
constructed pooling VAE, ``pooling_vae``), the synthetic clips it is trained on and the judge that checks
its videos against their prompts (``synthetic``), and its training (``training``,
``python -m profiling_dit.embedded.training``)."""
