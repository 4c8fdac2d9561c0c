"""The embedded tiny model's own tooling, not needed to run it: how it is built (``tiny``, with its
constructed pooling VAE, ``pooling_vae``), and the synthetic clips it is trained on and the judge that checks
its videos against their prompts (``synthetic``). Its training is repository tooling, not in this package:
``tools/train_embedded`` (``python -m tools.train_embedded``)."""
