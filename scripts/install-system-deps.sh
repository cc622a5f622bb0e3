#!/usr/bin/env bash
# System packages on a fresh Debian machine. Installs only what is missing; needs root
# (or sudo) for apt-get.
#   (no argument)  what the bot needs: Pango, HarfBuzz and fonts for WeasyPrint (PDF minutes;
#                  the emoji font draws the météo's 🌤️ ⛅ 🌧️, DejaVu has only some of them)
#   --tests        also what the tests need: PostgreSQL (server binaries, started by the tests
#                  in a temp dir), Node.js + npm (Mozilla's ical.js parser) and poppler-utils
#                  (pdftotext, pdftoppm: reading back the PDF minutes)
set -euo pipefail

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }

missing=()
for package in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
               fonts-noto-color-emoji; do
  installed "$package" || missing+=("$package")
done
if [ "${1:-}" = "--tests" ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing+=(postgresql)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  command -v pdftotext >/dev/null && command -v pdftoppm >/dev/null || missing+=(poppler-utils)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing system packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
