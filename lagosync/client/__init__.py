"""Lago API client: ``LagoClient``, typed errors, ``connect()`` and ``doctor``."""

from .connect import connect
from .core import LagoClient, normalize_base_url
from .errors import (
    LagoApiError,
    LagoConnectionError,
    LagoNotFound,
    LagoRateLimited,
    LagoServerError,
    LagoUnauthorized,
    LagoValidationError,
)

__all__ = [
    "LagoApiError",
    "LagoClient",
    "LagoConnectionError",
    "LagoNotFound",
    "LagoRateLimited",
    "LagoServerError",
    "LagoUnauthorized",
    "LagoValidationError",
    "connect",
    "normalize_base_url",
]
