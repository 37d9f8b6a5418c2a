"""govkpi: a gated warehouse of township governance KPIs."""

__version__ = "0.1.0"
