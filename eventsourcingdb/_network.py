"""How the client's own connection pools reach the server, whatever library they run on (aiohttp
for the async client, urllib3 for the blocking one): the proxy the environment names and the
certificates trusted, both as httpx takes them, so that injecting httpx changes neither."""

from __future__ import annotations

import os
import ssl
import urllib.request
from urllib.parse import urlsplit


def proxy_for(base_url: str) -> str | None:
    """The proxy the environment names for `base_url` (`HTTP_PROXY`, `NO_PROXY`, ...), as httpx
    honours it; looked up once per client instead of once per request."""
    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy is None or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def ssl_context() -> ssl.SSLContext:
    """Certificates as httpx verifies them: `SSL_CERT_FILE`/`SSL_CERT_DIR` if set, else certifi."""
    import certifi

    cafile = os.environ.get("SSL_CERT_FILE")
    capath = os.environ.get("SSL_CERT_DIR")
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile or None, capath=capath or None)
    return ssl.create_default_context(cafile=certifi.where())
