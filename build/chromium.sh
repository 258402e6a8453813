#!/usr/bin/env bash
# The browser of the real-browser tests (test/MassTransit.Patterns.Dashboard.BrowserTests): Debian's
# chromium package, installed with apt-get when missing. Nothing else downloads a browser: Playwright's
# own download is switched off (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1) and the tests launch this executable.
#
# Usage: build/chromium.sh   installs chromium when missing (quiet when present), prints its path on stdout.
# Progress goes to stderr, so  PATTERNS_CHROMIUM="$(build/chromium.sh)"  works. Needs root only to install.
set -euo pipefail

log() { printf '[chromium] %s\n' "$*" >&2; }
die() { printf '[chromium] ERROR: %s\n' "$*" >&2; exit 1; }

find_chromium() {
  local c
  for c in /usr/bin/chromium "$(command -v chromium 2>/dev/null || true)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then echo "$c"; return 0; fi
  done
  return 1
}

if path="$(find_chromium)"; then
  echo "$path"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "chromium is missing and installing it needs root: apt-get install chromium"
pkgs=(chromium)
# A font for the pages' text (screenshots); the image normally has it.
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || pkgs+=(fonts-dejavu-core)
log "installing ${pkgs[*]} with apt-get (about a minute)"
aptlog="$(mktemp /tmp/mtp-chromium-apt.XXXXXX.log)"
rc=0
{
  apt-get update &&
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}"
} >"$aptlog" 2>&1 || rc=$?
if [ "$rc" != 0 ]; then
  tail -n 30 "$aptlog" >&2 || true
  die "apt-get install ${pkgs[*]} failed (exit $rc); full log: $aptlog"
fi
rm -f "$aptlog"
path="$(find_chromium)" || die "apt-get installed chromium but no chromium executable was found"
log "installed $path"
echo "$path"
