"""Stand-in for ``fla.layers``: only its ``utils`` submodule (padding helpers) is served on CPU."""
