"""Training the embedded tiny Wan text-to-video models on the synthetic scenes (issue 5):
``python -m tools.train_embedded --out OUT [--arch tiny-deep]`` from the repository root (``make train-tiny``,
``make train-tiny-deep``). Tooling, not the library: ``profiling_dit`` never imports it.

Stages; the transformer's is resumable from safetensors checkpoints in ``OUT/checkpoints``:
1. render the training clips (``profiling_dit.embedded.synthetic.render``) for the non-held-out scenes;
2. build the VAE: ``profiling_dit.embedded.pooling_vae.build_pooling_vae``, a stock ``AutoencoderKLWan`` whose
   weights are set to an exact 4x4 mean-pooling autoencoder (not learned: see that module for why and how);
3. encode every clip to latents and set the VAE's latents_mean/std from them;
4. train WanTransformer3DModel with flow matching (x_t = (1-σ)x0 + σε, target ε - x0, shifted σ),
   prompts from the frozen tiny UMT5 encoder, the prompt dropped 10% of the time for CFG; first on
   latent frame 0 alone (images: layout, colour, background), then on strips of 3 latent frames that
   span the frame along the object's motion and are centred on it across (motion and the frame's
   edges, ~2.5x cheaper a step than whole clips), then on whole clips (the attention range that
   sampling uses);
5. save the pipeline in ``save_pretrained`` layout with ``pdit_model.json``, judge it on held-out prompts
   and write its model card (``model_card.md``, filled by ``model_card.write_model_card``).

Modules, one per stage: ``config`` (``TrainConfig``), ``data`` (clips, latents, prompt embeddings),
``checkpoints``, ``transformer`` (the flow-matching loop), ``stages`` (``train_tiny``, ``evaluate``),
``model_card``, and ``__main__`` (the command line).

Choices made to fit about an hour on 2 CPU cores with a small model that still learns to draw the
object: the loss is weighted up on the foreground's latent cells (the object covers ~5% of the
frame and is otherwise learned last), the transformer's weights are averaged (EMA) and the average
is what is saved, and the learning rate warms up then decays along a cosine.
"""

from .checkpoints import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .model_card import write_model_card
from .stages import evaluate, train_tiny

__all__ = ["TrainConfig", "evaluate", "load_checkpoint", "save_checkpoint", "train_tiny", "write_model_card"]
