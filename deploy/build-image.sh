#!/usr/bin/env bash
# Build deploy/Dockerfile with podman and audit the bundled demo inside the image (what CI runs).
#
#   bash deploy/build-image.sh            # or: make image
#
# Where no registry is reachable (CI), the base image is made locally: a Debian bookworm root file system
# from debootstrap plus python3, imported with `podman import` and passed as --build-arg BASE_IMAGE. That
# LOCAL base trusts this machine's CA bundle (a TLS-inspecting proxy may sit between pip and the package
# index); the published image, built FROM the official Python image, never gets it. The base is cached
# under $ENTRA_AUDITOR_IMAGE_CACHE, so re-runs skip debootstrap.
#
# RUN steps use --isolation=chroot, and the image is exercised without starting a container (a runtime
# may not be able to set rlimits here): `podman create` + `podman mount` + `chroot` into its file system,
# as the image's user (10001) with the image's environment.
#
# Where podman cannot be installed the script prints SKIP and exits 0, except under CI=true or
# ENTRA_AUDITOR_REQUIRE_SERVICES=1, where that is a failure.
#
# Environment: ENTRA_AUDITOR_IMAGE (tag built, default localhost/entra-auditor:ci),
# ENTRA_AUDITOR_BASE_IMAGE (use this base instead of the local Debian one, e.g. python:3.12.8-slim-bookworm),
# ENTRA_AUDITOR_IMAGE_CACHE (default /var/cache/entra-auditor-image), ENTRA_AUDITOR_DEBIAN_MIRROR,
# ENTRA_AUDITOR_CA_BUNDLE (default: pip's cert, else SSL_CERT_FILE, else the Debian bundle),
# PIP_INDEX_URL (forwarded to the build when it is an http(s) URL).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${ENTRA_AUDITOR_IMAGE:-localhost/entra-auditor:ci}
CACHE=${ENTRA_AUDITOR_IMAGE_CACHE:-/var/cache/entra-auditor-image}
SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,python-is-python3,ca-certificates
started=$SECONDS

log() { printf 'image: %s\n' "$*"; }
required() { [ "${CI:-}" = "true" ] || [ "${ENTRA_AUDITOR_REQUIRE_SERVICES:-}" = "1" ]; }
skip() {
  if required; then
    echo "image: FAILED: $* (required under CI=true / ENTRA_AUDITOR_REQUIRE_SERVICES=1)" >&2
    exit 1
  fi
  echo "SKIP: container image not built: $*"
  exit 0
}
fail() { echo "image: FAILED: $*" >&2; exit 1; }

# --- tools -----------------------------------------------------------------------------------------------
need=()
command -v podman >/dev/null 2>&1 || need+=(podman buildah)
if [ -z "${ENTRA_AUDITOR_BASE_IMAGE:-}" ]; then
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
      || skip "could not install ${need[*]} with apt-get"
  else
    skip "podman/debootstrap are missing and cannot be installed here (need root and apt-get)"
  fi
fi
command -v podman >/dev/null 2>&1 || skip "podman is not available"

# --- base image ------------------------------------------------------------------------------------------
ca_bundle() {
  local pip_cert
  pip_cert=$(pip config get global.cert 2>/dev/null || true)
  for candidate in "${ENTRA_AUDITOR_CA_BUNDLE:-}" "${PIP_CERT:-}" "$pip_cert" "${SSL_CERT_FILE:-}" \
                   /etc/ssl/certs/ca-certificates.crt; do
    if [ -n "$candidate" ] && [ -f "$candidate" ]; then echo "$candidate"; return; fi
  done
}

debian_mirror() {
  if [ -n "${ENTRA_AUDITOR_DEBIAN_MIRROR:-}" ]; then echo "$ENTRA_AUDITOR_DEBIAN_MIRROR"; return; fi
  # The first Debian archive apt is configured with (deb822 .sources or one-line sources.list).
  local uri
  uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
        | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -1 | tr -d ' ')
  echo "${uri:-http://deb.debian.org/debian}"
}

local_base() {
  local bundle key tag tarball rootfs
  bundle=$(ca_bundle)
  [ -n "$bundle" ] || fail "no CA bundle found for the local base image"
  # The base changes when its recipe or the trusted CAs change.
  key=$( { echo "$SUITE $BASE_PACKAGES v1"; cat "$bundle"; } | sha256sum | cut -c1-12)
  tag="localhost/entra-auditor-base:$SUITE-$key"
  if podman image exists "$tag"; then
    echo "$tag"; return
  fi
  mkdir -p "$CACHE"
  tarball="$CACHE/base-$SUITE-$key.tar"
  if [ ! -s "$tarball" ]; then
    rootfs="$CACHE/rootfs.$$"
    rm -rf "$rootfs"
    log "debootstrap $SUITE ($BASE_PACKAGES) from $(debian_mirror)" >&2
    debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$rootfs" "$(debian_mirror)" \
      > "$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; fail "debootstrap failed"; }
    # This machine's trust store, so pip inside the build can reach the index through the proxy.
    cp "$bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
           "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
    tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  fi
  log "importing the local base $tag" >&2
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]' \
    "$tarball" "$tag" >/dev/null
  echo "$tag"
}

exec 9>"${TMPDIR:-/tmp}/entra-auditor-image.lock"
flock 9  # one build at a time on this machine

if [ -n "${ENTRA_AUDITOR_BASE_IMAGE:-}" ]; then
  base=$ENTRA_AUDITOR_BASE_IMAGE
else
  base=$(local_base)
fi
base_done=$SECONDS
log "base $base ready in $((base_done - started)) s"

# --- build -----------------------------------------------------------------------------------------------
build_args=(--build-arg "BASE_IMAGE=$base")
case "${PIP_INDEX_URL:-}" in
  http://*|https://*) build_args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL") ;;
esac
build() {
  podman build --quiet --format docker --isolation=chroot --layers -f deploy/Dockerfile \
    --ignorefile deploy/Dockerfile.dockerignore "${build_args[@]}" "$@" . >/dev/null
}
log "building $IMAGE from deploy/Dockerfile"
# The build stage gets a tag of its own, so pruning the untagged leftovers of earlier builds keeps its cache.
build --target build -t "$IMAGE-build" || fail "podman build (build stage) failed"
build -t "$IMAGE" || fail "podman build failed"
podman image prune --force >/dev/null || true
build_done=$SECONDS
log "built in $((build_done - base_done)) s; size $(podman image inspect --format '{{.Size}}' "$IMAGE") bytes"

# --- exercise --------------------------------------------------------------------------------------------
user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
[ "$user" = "10001:10001" ] || fail "the image runs as '$user', expected 10001:10001"
mapfile -t image_env < <(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE" | sed '/^$/d')
container=$(podman create --quiet "$IMAGE")
cleanup() {
  podman umount "$container" >/dev/null 2>&1 || true
  podman rm --force "$container" >/dev/null 2>&1 || true
}
trap cleanup EXIT
root=$(podman mount "$container")

# The configuration a deployment mounts at $ENTRA_AUDITOR_CONFIG: history in SQLite on the data volume.
cat > "$root/etc/entra-auditor/auditor.yaml" <<'YAML'
storage:
  url: sqlite:////var/lib/entra-auditor/history.db
reports:
  dir: /var/lib/entra-auditor/reports
YAML
chmod 0640 "$root/etc/entra-auditor/auditor.yaml"
chown 0:10001 "$root/etc/entra-auditor/auditor.yaml"

in_image() {  # run a command in the image's file system as its user, with its environment
  chroot --userspec="$user" "$root" /usr/bin/env -i "${image_env[@]}" HOME=/var/lib/entra-auditor \
    /bin/sh -c 'cd /var/lib/entra-auditor && exec "$@"' sh "$@"
}

log "entra-auditor audit --demo (in the image, as $user)"
# an offline run records nothing and writes where --out says (here: the data volume's reports folder)
in_image entra-auditor audit --demo --out /var/lib/entra-auditor/reports || fail "audit --demo failed in the image"
folder=$(find "$root/var/lib/entra-auditor/reports" -name report.html -printf '%h\n' | sort | tail -1)
[ -n "$folder" ] || fail "audit --demo wrote no report.html"
for file in report.html report.xlsx findings.json; do
  [ -s "$folder/$file" ] || fail "audit --demo wrote no $file"
done
grep -q "admin-app-passwords" "$folder/report.html" || fail "the demo report lists no finding"
[ ! -e "$root/var/lib/entra-auditor/history.db" ] || fail "audit --demo wrote into the production history"
in_image entra-auditor history >/dev/null || fail "history failed in the image"
[ -s "$root/var/lib/entra-auditor/history.db" ] || fail "no history database in the data volume"
log "entra-auditor doctor --help"
in_image entra-auditor doctor --help >/dev/null || fail "doctor --help failed in the image"
if in_image python -c 'import aiohttp' 2>/dev/null; then
  fail "the image carries the simulator's dependencies"
fi
log "OK: image $IMAGE audits the demo (base $((base_done - started)) s, build $((build_done - base_done)) s," \
    "exercise $((SECONDS - build_done)) s, total $((SECONDS - started)) s)"
