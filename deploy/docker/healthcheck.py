"""Container health probe: GET http://127.0.0.1:$PORT/health, exit 0 on 2xx (no curl in slim images)."""

import os
import sys
import urllib.request

url = f"http://127.0.0.1:{os.environ.get('PORT', '5000')}{os.environ.get('HEALTHCHECK_PATH', '/health')}"
try:
    with urllib.request.urlopen(url, timeout=float(os.environ.get("HEALTHCHECK_TIMEOUT", "3"))) as resp:
        sys.exit(0 if 200 <= resp.status < 300 else 1)
except Exception as exc:  # any failure is "unhealthy"
    print(f"unhealthy: {url}: {exc}", file=sys.stderr)
    sys.exit(1)
