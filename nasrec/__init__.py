"""nasrec: neural architecture search for click-through-rate models."""

__version__ = "0.1.0"  # the one place it is written: pyproject.toml reads it (tool.setuptools.dynamic)
