"""nasrec: neural architecture search for click-through-rate models."""

__version__ = "0.1.0"
