"""A local emulator of the ChartMogul REST API v1 (read endpoints), standard library only.

``Emulator`` runs it in-process; ``python -m chartmogul_emulator`` runs it from the command line.
"""

from .account import Account
from .server import Emulator, no_collector_pauses

# ChartMogul's limits (the API reference, section on rate limits): requests in any second, and requests in flight.
# The emulator's command line, `make sync` and `make bench` enforce these; the manifest's defaults say the same.
CHARTMOGUL_REQUESTS_PER_SECOND = 40
CHARTMOGUL_PARALLEL_CONNECTIONS = 20

__all__ = ["Account", "CHARTMOGUL_PARALLEL_CONNECTIONS", "CHARTMOGUL_REQUESTS_PER_SECOND", "Emulator", "no_collector_pauses"]
