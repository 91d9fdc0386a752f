#!/bin/bash
# Build the "KVM host in a box": the base image of an L1 Linux that runs under QEMU TCG with
# SVM and is itself a KVM host (kvm_amd nested=1), for running the lab's hypervisor under a
# real KVM with -cpu host (docs/kvm-box.md; measured facts in shared/docs/kvm-box-notes.md).
#
#   OUTDIR/box.cpio      uncompressed newc cpio, padded to 4 bytes: static busybox, /init
#                        (images/kvm-box-init.sh), this host's qemu-system-x86_64 with its shared
#                        libraries and the firmware files an x86 PC needs, and the stock modules
#                        kvm_amd, virtio_pci and virtio_console (with their dependencies) from
#                        the lab's guest kernel. The L1 kernel is that guest kernel's bzImage.
#   OUTDIR/inputs.txt    every host file that went in (the cache key is made from their contents)
#
# What L2 runs is not in here: the lab appends a second cpio per run holding box/hv.elf,
# box/bundle.img and box/run.conf (see kvm-box-init.sh), as it appends the plan to the guest's
# initramfs. The archive is reproducible (fixed owners and mtimes, sorted).
#
#   kvm-box.sh --inputs          prints the host files the image is made of, one a line (the
#                                lab hashes them, with this recipe and the kernel version, for
#                                the cache key) and exits
set -euo pipefail

usage() {
    echo "usage: $0 OUTDIR KERNEL_DIR    (KERNEL_DIR made by images/kernel.sh)" >&2
    echo "       $0 --inputs" >&2
    exit 2
}
die() { echo "kvm-box.sh: error: $*" >&2; exit 1; }
log() { echo "kvm-box.sh: $*" >&2; }

HERE=$(cd "$(dirname "$0")" && pwd)
BUSYBOX=${BUSYBOX:-/bin/busybox}
QEMU=${QEMU:-/usr/bin/qemu-system-x86_64}
# Firmware QEMU loads for an i440fx PC booted with -kernel (Linux or multiboot) and -nodefaults.
# Looked up where Debian's QEMU looks (qemu-system-x86_64 -L help): share/qemu, then share/seabios.
FIRMWARE=(bios-256k.bin kvmvapic.bin linuxboot_dma.bin multiboot_dma.bin)
# kvm_amd: the box's purpose; virtio_pci + virtio_console: the three L2 streams leave L1 on
# virtio serial ports (live, one port per stream, no UART IRQ sharing).
MODULES=(kvm-amd virtio_pci virtio_console)

firmware_path() {
    local d
    for d in /usr/share/qemu /usr/share/seabios; do
        [ -e "$d/$1" ] && { echo "$d/$1"; return 0; }
    done
    return 1
}

# Host files the image is made of: busybox, QEMU, the shared objects ldd resolves for it
# (including the dynamic loader), and the firmware.
host_inputs() {
    [ -x "$QEMU" ] || die "$QEMU not found (Debian package qemu-system-x86)"
    [ -x "$BUSYBOX" ] || die "$BUSYBOX not found (Debian package busybox-static)"
    file -L "$BUSYBOX" | grep -q 'statically linked' || die "$BUSYBOX is not statically linked (install busybox-static)"
    echo "$BUSYBOX"
    echo "$QEMU"
    local libs
    libs=$(ldd "$QEMU") || die "ldd $QEMU failed"
    if grep -q 'not found' <<< "$libs"; then
        die "ldd $QEMU: missing libraries: $(grep 'not found' <<< "$libs" | tr -s ' \t' ' ')"
    fi
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<< "$libs" | sort -u
    local f p
    for f in "${FIRMWARE[@]}"; do
        p=$(firmware_path "$f") || die "QEMU firmware $f not found in /usr/share/qemu or /usr/share/seabios (packages qemu-system-data, seabios)"
        echo "$p"
    done
}

if [ "${1:-}" = --inputs ]; then
    [ $# -eq 1 ] || usage
    host_inputs
    exit 0
fi
[ $# -eq 2 ] || usage
OUTDIR=$1 KDIR=$2

[ -f "$KDIR/version" ] || die "$KDIR/version missing: run images/kernel.sh $KDIR first"
KVER=$(cat "$KDIR/version")
KMODS="$KDIR/modules"
[ -f "$KMODS/modules.dep" ] || die "$KMODS/modules.dep missing: $KDIR is incomplete (rerun images/kernel.sh)"
INPUTS=$(host_inputs)

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gml-kvm-box.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STAGE=$WORK/root

# ---- layout --------------------------------------------------------------------------------
mkdir -p "$STAGE" "$STAGE"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,box}
cp "$BUSYBOX" "$STAGE/bin/busybox"
"$BUSYBOX" --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] || [ -e "$STAGE/$applet" ] || ln -s /bin/busybox "$STAGE/$applet"
done
mknod -m 600 "$STAGE/dev/console" c 5 1
install -m 755 "$HERE/kvm-box-init.sh" "$STAGE/init"
# QEMU, its libraries and firmware at the paths they have here (cp -L: the files, not the
# symlinks Debian's merged /usr and the firmware packages use).
while IFS= read -r f; do
    [ "$f" = "$BUSYBOX" ] && continue
    mkdir -p "$STAGE$(dirname "$f")"
    cp -L "$f" "$STAGE$f"
done <<< "$INPUTS"
strip --strip-unneeded "$STAGE$QEMU" 2>/dev/null || true

# ---- stock kernel modules with their dependencies (from modules.dep) --------------------------
# shellcheck source=images/stock-modules.sh
. "$(dirname "$0")/stock-modules.sh"
MODROOT="$STAGE/lib/modules/$KVER"
install_stock_modules "$MODROOT" "${MODULES[@]}"
for ko in "${STOCK_MODULE_FILES[@]}"; do strip --strip-debug "$ko"; done

# ---- archive --------------------------------------------------------------------------------
find "$STAGE" -exec touch -h -d @0 {} +
(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$OUTDIR/box.cpio.tmp"
# The per-run archive is appended to this one: keep it 4-byte aligned (init/initramfs.c).
size=$(stat -c %s "$OUTDIR/box.cpio.tmp")
pad=$(( (4 - size % 4) % 4 ))
[ $pad -eq 0 ] || head -c $pad /dev/zero >> "$OUTDIR/box.cpio.tmp"
mv "$OUTDIR/box.cpio.tmp" "$OUTDIR/box.cpio"
echo "$INPUTS" > "$OUTDIR/inputs.txt"
log "$OUTDIR/box.cpio ($(du -h "$OUTDIR/box.cpio" | cut -f1)), kernel $KVER, QEMU $("$QEMU" --version | head -n1), modules: $(printf '%s ' "${!STOCK_WANT[@]}" | xargs -n1 basename | tr '\n' ' ')"
