"""The repository's maintenance tooling: run from the repository root, never installed with the package.

``profiling_dit`` imports nothing from here (``tests/test_training.py`` checks it)."""
