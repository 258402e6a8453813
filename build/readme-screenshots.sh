#!/usr/bin/env bash
# Takes the README's screenshots of the console (docs/images/dashboard-*.png, docs/images/ops-*.png): runs the showcase with
# --dashboard (invoices failing into the console, on 127.0.0.1:5080), lets failures pile up, shoots the four main
# screens (overview, failed messages, one message, groups) and each operations page with Debian's chromium headless,
# and stops the showcase.
# The browser tests save the same screens of their own runs under artifacts/screenshots.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

chromium="$(build/chromium.sh)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build src/MassTransit.Patterns.Showcase -c Release -nologo -clp:ErrorsOnly >&2
console=http://127.0.0.1:5080/patterns
log="$(mktemp /tmp/mtp-readme-screenshots.XXXXXX.log)"
src/MassTransit.Patterns.Showcase/bin/Release/net10.0/MassTransit.Patterns.Showcase --dashboard >"$log" 2>&1 &
showcase=$!
# SIGTERM: the showcase stops its bus and web host and removes its temporary folder.
trap 'kill -TERM $showcase 2>/dev/null || true; wait $showcase 2>/dev/null || true; rm -f "$log"' EXIT

# Wait until at least 20 invoices wait for a person (the first burst of 100 gives about 15, then 2 a second).
waiting=0
for _ in $(seq 1 120); do
  waiting=$(curl -fsS "$console/api/counts" 2>/dev/null | grep -o '"AwaitingPerson":[0-9]*' | grep -o '[0-9]*$' || echo 0)
  [ "${waiting:-0}" -ge 20 ] && break
  sleep 0.5
done
[ "${waiting:-0}" -ge 20 ] || { cat "$log" >&2; echo "the showcase's console did not fill within 60 s" >&2; exit 1; }

# One invoice with a wrong amount, the message screen's example.
id=$(curl -fsS "$console/api/messages?state=AwaitingPerson&q=not%20positive&pageSize=1" | grep -o '"correlationId":"[^"]*"' | head -n 1 | cut -d'"' -f4)
[ -n "$id" ] || { echo "no invoice with a wrong amount found" >&2; exit 1; }

shoot() { # name url height
  "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="1280,$3" \
    --screenshot="$root/docs/images/dashboard-$1.png" "$2" >/dev/null 2>&1
  echo "docs/images/dashboard-$1.png"
}
shoot overview "$console" 520
shoot messages "$console/messages?state=AwaitingPerson" 900
shoot message "$console/messages/$id" 1400
shoot groups "$console/groups?state=AwaitingPerson" 620
# The operations view: one page per pattern, as the showcase's workloads keep them busy.
for page in supervisor control-flow ambulance thread-delegate contextual watch multibroker event-forwarding workflow; do
  "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="1280,1100" \
    --screenshot="$root/docs/images/ops-$page.png" "$console/ops/$page" >/dev/null 2>&1
  echo "docs/images/ops-$page.png"
done
