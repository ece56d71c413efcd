"""lagosync: billing as code for Lago."""

__version__ = "0.1.0"
