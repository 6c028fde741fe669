#!/usr/bin/env bash
# Re-vendor the web UI's third-party files from the npm registry (the UI works offline, so
# nothing loads from a CDN). Bump a version below, run this script, rerun the browser tests
# (pytest -m browser tests/serve), commit the result together with the new version in README.md.
#
#   src/kaizen/serve/static/vendor/update.sh
set -euo pipefail
MARKED=18.2.1            # Markdown -> HTML (GFM), MIT
DOMPURIFY=3.5.0          # HTML sanitiser, Apache-2.0 or MPL-2.0
HIGHLIGHT=11.12.0        # @highlightjs/cdn-assets: syntax highlighting, BSD-3-Clause
SWAGGER_UI=5.35.0        # swagger-ui-dist: the offline /docs page, Apache-2.0

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
unpack() {  # unpack NAME@VERSION into ./NAME-dir (npm pack runs no package scripts)
  local tgz
  tgz="$(npm pack --silent "$1@$2")"
  mkdir -p "$3" && tar -xzf "$tgz" -C "$3" --strip-components=1
}
unpack marked "$MARKED" marked
unpack dompurify "$DOMPURIFY" dompurify
unpack @highlightjs/cdn-assets "$HIGHLIGHT" highlight
unpack swagger-ui-dist "$SWAGGER_UI" swagger

# Copy a file, dropping its sourceMappingURL line (the maps are not shipped; a browser with
# dev tools open would ask for them and get 404s). ES modules are renamed to .js so every
# server sends them with a JavaScript MIME type.
put() { mkdir -p "$(dirname "$here/$2")"; sed '/^\/[/*][#@] sourceMappingURL=/d' "$1" > "$here/$2"; }
rm -rf "$here/marked" "$here/dompurify" "$here/highlight" "$here/swagger-ui"
put marked/lib/marked.esm.js marked/marked.esm.js
cp marked/LICENSE* "$here/marked/"
put dompurify/dist/purify.es.mjs dompurify/purify.es.js
cp dompurify/LICENSE* "$here/dompurify/"
put highlight/es/highlight.min.js highlight/highlight.min.js
put highlight/styles/github.min.css highlight/github.min.css
cp highlight/LICENSE "$here/highlight/"
put swagger/swagger-ui-bundle.js swagger-ui/swagger-ui-bundle.js
put swagger/swagger-ui.css swagger-ui/swagger-ui.css
cp swagger/favicon-32x32.png swagger/LICENSE swagger/NOTICE "$here/swagger-ui/"
cp swagger/swagger-ui-bundle.js.LICENSE.txt "$here/swagger-ui/"
echo "vendored marked $MARKED, dompurify $DOMPURIFY, highlight.js $HIGHLIGHT, swagger-ui-dist $SWAGGER_UI into $here"
