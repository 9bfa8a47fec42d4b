"""The container's health check: `python -m waveflow.probe` exits 0 when this container's process is live.

One image runs either the worker or the bridge, so the probe asks both processes' health addresses on loopback
and is satisfied by the first that answers 200 on /livez.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

HEALTH_ADDRESSES = {"WORKER_HEALTH_BIND_ADDRESS": "0.0.0.0:9465", "BRIDGE_HEALTH_BIND_ADDRESS": "0.0.0.0:9466"}
TIMEOUT_SECONDS = 3.0


def probe_urls(environ: dict[str, str], path: str = "/livez") -> list[str]:
    ports = [environ.get(name) or default for name, default in HEALTH_ADDRESSES.items()]
    return [f"http://127.0.0.1:{address.rsplit(':', 1)[1]}{path}" for address in ports if address]


def is_live(urls: list[str]) -> bool:
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            continue
    return False


if __name__ == "__main__":
    sys.exit(0 if is_live(probe_urls(dict(os.environ), sys.argv[1] if len(sys.argv) > 1 else "/livez")) else 1)
