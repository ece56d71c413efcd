"""Lago API client: ``LagoClient``, typed errors, ``connect()`` and ``doctor``."""

from .connect import connect
from .core import LagoClient, normalize_base_url
from .errors import (
    LagoApiError,
    LagoBadResponse,
    LagoConnectionError,
    LagoNotFound,
    LagoRateLimited,
    LagoServerError,
    LagoUnauthorized,
    LagoValidationError,
)

__all__ = [
    "LagoApiError",
    "LagoBadResponse",
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
