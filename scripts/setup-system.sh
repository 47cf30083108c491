#!/usr/bin/env bash
# Installs the system packages stemgen uses, when run as root; otherwise says what is missing.
#   fluidsynth + General MIDI SoundFonts: rendering MIDI to audio (datasets, previews)
#   avldrums.lv2-soundfont: the arranger's multi-velocity acoustic drum kits (AVL Drumkits, CC BY-SA 3.0)
#   musescore-general-soundfont: MuseScore General HQ (MIT), single programs for the arranger
#   ffmpeg: decoding mp3/ogg/mp4 where libsndfile cannot, torchcodec
#   chromium + chromium-driver: the web page's browser test
set -euo pipefail

need_pkgs=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in fluidsynth libfluidsynth3 fluid-soundfont-gm musescore-general-soundfont-small \
           timgm6mb-soundfont avldrums.lv2-soundfont musescore-general-soundfont \
           ffmpeg chromium chromium-driver; do
  have "$pkg" || need_pkgs+=("$pkg")
done

if [ ${#need_pkgs[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "setup: installing system packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
else
  echo "setup: missing system packages: ${need_pkgs[*]}" >&2
  echo "setup: install them with: sudo apt-get install ${need_pkgs[*]}" >&2
  echo "setup: (stemgen still runs; MIDI rendering and the browser test need them)" >&2
fi
