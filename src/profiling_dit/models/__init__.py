"""Per-architecture functions referenced by registry entries (small, tested against the model)."""
