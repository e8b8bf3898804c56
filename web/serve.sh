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
# Files are sent gzip-encoded to browsers that accept it, as most static hosts send them.
exec python3 - "$port" "$root/web" <<'PY'
import functools, gzip, http.server, io, os, sys

class Isolated(http.server.SimpleHTTPRequestHandler):
    gzipped = {}  # path -> (mtime, compressed bytes)

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def send_head(self):
        path = self.translate_path(self.path)
        if os.path.isdir(path):
            path = os.path.join(path, "index.html")
        if "gzip" not in self.headers.get("Accept-Encoding", "") or not os.path.isfile(path):
            return super().send_head()
        mtime = os.stat(path).st_mtime
        if self.headers.get("If-Modified-Since") == self.date_time_string(mtime):
            self.send_response(304)
            self.end_headers()
            return None
        cached = self.gzipped.get(path)
        if cached is None or cached[0] != mtime:
            with open(path, "rb") as f:
                cached = self.gzipped[path] = (mtime, gzip.compress(f.read(), 6))
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(len(cached[1])))
        self.send_header("Last-Modified", self.date_time_string(mtime))
        self.end_headers()
        return io.BytesIO(cached[1])

Isolated.extensions_map = {**Isolated.extensions_map, ".wasm": "application/wasm", ".mjs": "text/javascript"}
port, root = int(sys.argv[1]), sys.argv[2]
http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Isolated, directory=root)).serve_forever()
PY
