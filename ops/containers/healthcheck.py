#!/opt/streamworks/bin/python
"""The platform image's health check: the role's HTTP endpoint answers with a 2xx or 3xx.

The URL is ``STREAMWORKS_HEALTH_URL`` when set, else ``/metrics`` on
``STREAMWORKS_METRICS_PORT`` (every worker and connector process serves it); a role with
neither has nothing to probe and counts as healthy while its process runs. Standard library
only, so it starts in milliseconds.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

_OK = range(200, 400)


def health_url() -> str | None:
    """The URL to probe for this container's role, or None when there is none."""
    configured = os.environ.get("STREAMWORKS_HEALTH_URL")
    if configured:
        return configured
    port = os.environ.get("STREAMWORKS_METRICS_PORT", "0")
    if port not in ("", "0"):
        return f"http://127.0.0.1:{port}/metrics"
    return None


def main() -> int:
    """Exit 0 when healthy, 1 with a one-line reason otherwise (docker keeps the output)."""
    url = health_url()
    if url is None:
        print("no STREAMWORKS_HEALTH_URL or STREAMWORKS_METRICS_PORT: healthy while running")
        return 0
    if not url.startswith(("http://", "https://")):
        print(f"STREAMWORKS_HEALTH_URL must be an http(s) URL, not {url!r}")
        return 1
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 - http(s) checked above
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        print(f"{url} did not answer: {error}")
        return 1
    print(f"{url} answered {status}")
    return 0 if status in _OK else 1


if __name__ == "__main__":
    sys.exit(main())
