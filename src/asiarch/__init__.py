"""asi-arch: autonomous, statistically honest discovery of sub-quadratic sequence mixers."""

__version__ = "0.1.0"
