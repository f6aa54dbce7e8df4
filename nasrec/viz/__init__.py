"""Rendering of genotypes (graphviz) and run reports."""

from nasrec.viz.render import render, to_dot

__all__ = ["render", "to_dot"]
