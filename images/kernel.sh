#!/bin/bash
# Fetch the stock Debian guest kernel without installing it, and lay it out for the lab:
#   OUTDIR/vmlinuz          the bzImage as shipped
#   OUTDIR/vmlinux          the uncompressed ELF inside it (boots without self-decompression,
#                           which matters under Bochs where that costs ~60 s)
#   OUTDIR/modules/         lib/modules/VERSION from the package (modules.dep etc.)
#   OUTDIR/version          e.g. 6.1.0-56-amd64
#   OUTDIR/package-version  the Debian package version, e.g. 6.1.192-2
# It also makes sure linux-headers-VERSION is installed, because the guest kernel module is
# built against /lib/modules/VERSION/build.
# The version comes from the linux-image-amd64 meta-package (Debian replaces ABI versions over
# time, so it is never hard-coded) unless given explicitly.
set -euo pipefail

usage() {
    echo "usage: $0 OUTDIR [VERSION]   (VERSION like 6.1.0-56-amd64; default: what linux-image-amd64 depends on)" >&2
    exit 2
}
die() { echo "kernel.sh: error: $*" >&2; exit 1; }
log() { echo "kernel.sh: $*" >&2; }

[ $# -ge 1 ] && [ $# -le 2 ] || usage
OUTDIR=$1
VERSION=${2:-}

resolve_version() {
    # prints the kernel ABI version linux-image-amd64 currently depends on, or nothing
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: linux-image-\([0-9].*-amd64\)$/\1/p' | head -n1
}

if [ -z "$VERSION" ]; then
    VERSION=$(resolve_version)
    if [ -z "$VERSION" ]; then
        log "linux-image-amd64 not in the apt cache; running apt-get update"
        apt-get update -qq || die "apt-get update failed"
        VERSION=$(resolve_version)
    fi
    [ -n "$VERSION" ] || die "could not resolve the kernel version from 'apt-cache depends linux-image-amd64'"
fi
[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+-[0-9]+-[a-z0-9-]+$ ]] ||
    die "VERSION '$VERSION' does not look like a Debian kernel ABI version (e.g. 6.1.0-56-amd64)"

have_headers() {
    [ -e "/lib/modules/$VERSION/build/Makefile" ] || [ -e "/usr/src/linux-headers-$VERSION/Makefile" ]
}

# Fast path: everything already there for this version.
if have_headers && [ -f "$OUTDIR/version" ] && [ "$(cat "$OUTDIR/version")" = "$VERSION" ] &&
   [ -s "$OUTDIR/vmlinuz" ] && [ -s "$OUTDIR/vmlinux" ] && [ -s "$OUTDIR/package-version" ] &&
   [ -f "$OUTDIR/modules/modules.dep" ]; then
    log "$OUTDIR already holds kernel $VERSION"
    exit 0
fi

if ! apt-cache show "linux-image-$VERSION" >/dev/null 2>&1; then
    log "linux-image-$VERSION not in the apt cache; running apt-get update"
    apt-get update -qq || die "apt-get update failed"
    apt-cache show "linux-image-$VERSION" >/dev/null 2>&1 ||
        die "Debian has no package linux-image-$VERSION (see: apt-cache search linux-image-6)"
fi

# Headers for the module build (cheap check first; installing needs root and apt).
if ! have_headers; then
    log "installing linux-headers-$VERSION (needed to build the guest kernel module)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "linux-headers-$VERSION" >&2 ||
        die "could not install linux-headers-$VERSION"
fi

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gml-kernel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

PKG=linux-image-$VERSION
log "downloading $PKG"
if ! (cd "$WORK" && apt-get download "$PKG" >&2); then
    log "apt-get download failed; running apt-get update and retrying"
    apt-get update -qq || die "apt-get update failed"
    (cd "$WORK" && apt-get download "$PKG" >&2) || die "apt-get download $PKG failed"
fi
DEB=$(ls "$WORK"/"$PKG"_*.deb 2>/dev/null | head -n1)
[ -n "$DEB" ] || die "apt-get download produced no $PKG .deb in $WORK"
PKGVER=$(dpkg-deb -f "$DEB" Version)
dpkg-deb -x "$DEB" "$WORK/root"

BZ="$WORK/root/boot/vmlinuz-$VERSION"
MODS="$WORK/root/lib/modules/$VERSION"
[ -f "$BZ" ] || die "$DEB has no boot/vmlinuz-$VERSION"
[ -d "$MODS" ] || die "$DEB has no lib/modules/$VERSION"
# modules.dep is normally made by the package's postinst (depmod); make it here.
command -v depmod >/dev/null || die "depmod not found (Debian package kmod)"
DEPMOD_ARGS=(-b "$WORK/root")
[ -f "$WORK/root/boot/System.map-$VERSION" ] && DEPMOD_ARGS+=(-F "$WORK/root/boot/System.map-$VERSION")
depmod "${DEPMOD_ARGS[@]}" "$VERSION" ||
    die "depmod failed on the extracted modules of $VERSION"

# --- extract vmlinux from the bzImage -------------------------------------------------------
# The bzImage carries the kernel ELF compressed by one of several methods. Like the kernel's
# own scripts/extract-vmlinux: find each candidate magic, try to decompress from there, keep the
# first result that is an ELF. Decompressors complain about trailing data; ignore their status.
is_elf() { [ "$(head -c4 "$1" 2>/dev/null | od -An -c | tr -d ' \n')" = "177ELF" ]; }
try_decompress() { # magic-bytes(printf format) grep-pattern decompressor...
    local magic=$1 pat=$2; shift 2
    local off
    for off in $(LC_ALL=C grep -obUaP "$pat" "$BZ" | cut -d: -f1); do
        tail -c+$((off + 1)) "$BZ" | "$@" > "$WORK/vmlinux" 2>/dev/null || true
        if is_elf "$WORK/vmlinux"; then
            log "vmlinux: $* payload at offset $off"
            return 0
        fi
    done
    return 1
}
try_decompress xz   '\xFD7zXZ\x00'     xz -dc ||
try_decompress zstd '\x28\xB5\x2F\xFD' zstd -dc ||
try_decompress gzip '\x1F\x8B\x08'     gzip -dc ||
try_decompress lz4  '\x02\x21\x4C\x18' lz4 -dc ||
    die "no xz/zstd/gzip/lz4 payload in $BZ decompresses to an ELF"

# --- lay out OUTDIR (atomically enough: version written last) -------------------------------
rm -f "$OUTDIR/version"
rm -rf "$OUTDIR/modules"
cp "$BZ" "$OUTDIR/vmlinuz"
mv "$WORK/vmlinux" "$OUTDIR/vmlinux"
cp -a "$MODS" "$OUTDIR/modules"
# The package's build/source links point into /usr/src; they would dangle here.
rm -f "$OUTDIR/modules/build" "$OUTDIR/modules/source"
[ -f "$OUTDIR/modules/modules.dep" ] || die "$PKG has no modules.dep"
echo "$PKGVER" > "$OUTDIR/package-version"
echo "$VERSION" > "$OUTDIR/version"
log "kernel $VERSION ($PKGVER) in $OUTDIR: $(du -sh "$OUTDIR/vmlinux" | cut -f1) vmlinux, $(du -sh "$OUTDIR/modules" | cut -f1) modules"
