#!/usr/bin/env bash
# Builds the page (web/build.sh: the wasm, the default model) and serves web/ on
# http://127.0.0.1:8080 (`--port N` to change).
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
exec python3 -m http.server --bind 127.0.0.1 "$port" --directory "$root/web"
