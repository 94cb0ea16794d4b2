"""lamina-jupyter: the Jupyter toolkit for the Lamina AI apps API."""

__version__ = "0.1.0"
