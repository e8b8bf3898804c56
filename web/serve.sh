#!/usr/bin/env bash
# Builds the page (web/build.sh: the wasm, the default model) and serves web/ on
# http://127.0.0.1:8080 (`--port N` to change), cross-origin isolated.
set -euo pipefail
port=8080
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --port=*) port="${1#--port=}"; shift ;;
    *) echo "usage: $0 [--port N]" >&2; exit 2 ;;
  esac
done
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/web/build.sh"
echo "Glimpse: http://127.0.0.1:$port/"
# With the cross-origin isolation headers (COOP/COEP): the CPU then runs pkg/cpu-threads from the
# first visit on (on hosts that cannot send them, the service worker adds them from the second).
exec python3 - "$port" "$root/web" <<'PY'
import functools, http.server, sys

class Isolated(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

port, root = int(sys.argv[1]), sys.argv[2]
http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Isolated, directory=root)).serve_forever()
PY
