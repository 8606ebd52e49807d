"""A local emulator of the ChartMogul REST API v1 (read endpoints), standard library only.

``Emulator`` runs it in-process; ``python -m chartmogul_emulator`` runs it from the command line.
"""

from .account import Account
from .server import Emulator, no_collector_pauses

__all__ = ["Account", "Emulator", "no_collector_pauses"]
