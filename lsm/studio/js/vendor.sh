#!/usr/bin/env bash
# Re-vendors the studio page's JavaScript from the exact versions pinned in package.json
# (package-lock.json): installs them with `npm ci` and copies their built browser files
# and licenses into ../static/vendor. Only needed to change a version: the vendored
# files are committed, so the studio works offline with no Node.js.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts
out=../static/vendor
mkdir -p "$out"
cp node_modules/tone/build/Tone.js "$out/tone.js"
cp node_modules/@magenta/music/es6/core.js "$out/magenta-core.js"
cp node_modules/html-midi-player/dist/midi-player.min.js "$out/midi-player.min.js"
cp node_modules/tone/LICENSE.md "$out/LICENSE.tone.md"
cp node_modules/html-midi-player/LICENSE "$out/LICENSE.html-midi-player"
{
  echo "Vendored by lsm/studio/js/vendor.sh from npm (exact versions: lsm/studio/js/package.json):"
  for p in tone @magenta/music html-midi-player; do
    node -e "const p=require('./node_modules/$p/package.json'); console.log('  '+p.name+'@'+p.version+'  license '+p.license)"
  done
  echo "tone.js: tone/build/Tone.js; magenta-core.js: @magenta/music/es6/core.js;"
  echo "midi-player.min.js: html-midi-player/dist/midi-player.min.js."
  echo "@magenta/music is Apache-2.0 (its package ships no license file; the text is at"
  echo "https://www.apache.org/licenses/LICENSE-2.0 and in magenta-js's repository)."
} > "$out/README"
echo "vendored into $(cd "$out" && pwd)"
