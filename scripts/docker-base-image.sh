#!/usr/bin/env bash
# Makes the base image the Dockerfile builds on, offline: `docker import` of a root
# filesystem holding this machine's node binary, the shared libraries it loads, and the few
# files a process expects (/etc/passwd with the uid the image runs as, /tmp). No shell, no
# package manager: nothing can be pulled here, and nothing else is needed at run time.
#
#   scripts/docker-base-image.sh [tag]        (default tag: zkts-node-base, the Dockerfile's BASE)
#   NODE=/path/to/node scripts/docker-base-image.sh
#
# Re-running it is cheap: the image is labelled with the node binary's checksum and the
# import is skipped when the tagged image already holds that binary.
set -euo pipefail

tag="${1:-zkts-node-base}"
node_bin="$(readlink -f "${NODE:-$(command -v node)}")"
[ -x "$node_bin" ] || { echo "docker-base-image: no node binary at '$node_bin'" >&2; exit 1; }
script_sum="$(sha256sum "$0" | cut -c1-16)"
node_sum="$(sha256sum "$node_bin" | cut -c1-16)"
want="$node_sum-$script_sum"

have="$(docker image inspect "$tag" --format '{{index .Config.Labels "org.zkts.base"}}' 2>/dev/null || true)"
if [ "$have" = "$want" ]; then
  echo "docker-base-image: $tag is up to date ($("$node_bin" --version))"
  exit 0
fi

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/etc" "$root/tmp"
chmod 1777 "$root/tmp"

# Debug symbols are half of some node builds and never used in the image.
if command -v strip >/dev/null 2>&1; then
  strip -o "$root/usr/bin/node" "$node_bin"
else
  cp "$node_bin" "$root/usr/bin/node"
fi

# Every library ldd lists, at the path it lists (the dynamic loader too), plus librt.so.1:
# @node-rs/crc32's addon links it and node itself does not, so ldd node never names it.
copy_lib() {
  local path="$1"
  mkdir -p "$root$(dirname "$path")"
  cp -L "$path" "$root$path"
}
libs="$(ldd "$node_bin" | awk '/=> \//{print $3} /^[ \t]*\/[^ ]+ \(/{print $1}')"
libdir="$(dirname "$(ldd "$node_bin" | awk '/libc\.so\.6 => /{print $3}')")"
for lib in $libs "$libdir/librt.so.1"; do copy_lib "$lib"; done

# uid/gid 1000 is the one the Dockerfile's USER names (the official node image's `node`).
cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/usr/sbin/nologin
zkts:x:1000:1000:zkts:/data:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
zkts:x:1000:
nogroup:x:65534:
GROUP
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"

tar --numeric-owner --owner=0 --group=0 -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "LABEL org.zkts.base=$want" \
  --change 'CMD ["node"]' \
  --message "node $("$node_bin" --version) from $node_bin with its libraries" \
  - "$tag" >/dev/null
docker image prune -f --filter label=org.zkts.base >/dev/null
size="$(docker image inspect "$tag" --format '{{.Size}}')"
echo "docker-base-image: $tag holds node $("$node_bin" --version) ($((size / 1024 / 1024)) MiB)"
