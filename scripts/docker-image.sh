#!/usr/bin/env bash
# Builds the zkts image: compiles dist/, stages the production node_modules and the
# directories the server owns in dist/image/, makes the offline base image, then builds the
# Dockerfile with the legacy builder (DOCKER_BUILDKIT=0; the base has no shell, so no RUN).
#
#   scripts/docker-image.sh [tag]        (default tag: zkts:latest)
#   BASE=node:20-bookworm-slim scripts/docker-image.sh     (a base from a registry instead)
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${1:-zkts:latest}"
base="${BASE:-zkts-node-base}"

npm run --silent build

# The packages `npm ls` counts as production, copied as installed (same versions, offline).
stage=dist/image
rm -rf "$stage"
mkdir -p "$stage/node_modules" "$stage/owned/conf" "$stage/owned/data" "$stage/owned/datalog"
npm ls --omit=dev --all --parseable | sed -n "s|^$PWD/node_modules/|node_modules/|p" | sort -u |
  while read -r package; do cp -a --parents "$package" "$stage/"; done

# The digest test/containers/docker.ts computes the same way.
source="$(cd dist/src && find . -name '*.js' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"

if [ "$base" = zkts-node-base ]; then scripts/docker-base-image.sh "$base"; fi
DOCKER_BUILDKIT=0 docker build --quiet --build-arg "BASE=$base" --build-arg "SOURCE=$source" -t "$tag" . >/dev/null
# The image this one replaced, now untagged, goes (only images this script labelled).
docker image prune -f --filter label=org.zkts.source >/dev/null
size="$(docker image inspect "$tag" --format '{{.Size}}')"
echo "docker-image: built $tag on $base ($((size / 1000 / 1000)) MB)"
