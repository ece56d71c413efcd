"""An embedded, Lago-compatible API emulator (lago-api v1.51.0 behaviour).

See docs/ARCHITECTURE.md ("Emulator") and docs/lago-behaviour.md for the rules it models.
"""

from .common import LAGO_VERSION, EmulatorResponse
from .core import Emulator
from .faults import EmulatorCrash, Faults
from .recorder import recorder
from .server import make_server, serve, start_in_thread
from .transport import EmulatorTransport

__all__ = [
    "LAGO_VERSION", "Emulator", "EmulatorCrash", "EmulatorResponse", "EmulatorTransport", "Faults",
    "make_server", "recorder", "serve", "start_in_thread",
]
