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
# kvm_amd (kvm_intel for an Intel L1, e.g. under Bochs): the box's purpose; virtio_pci + virtio_console: the three L2 streams leave L1 on
# virtio serial ports (live, one port per stream, no UART IRQ sharing); virtio_net: the box as a
# libvirt machine answers on a port the outer QEMU forwards from 127.0.0.1.
MODULES=(kvm-amd kvm-intel virtio_pci virtio_console virtio_net)
# The box as a libvirt machine (docs/kvm-box.md): this machine's libvirtd with the QEMU and
# storage drivers (the remote path needs a directory pool), as the lab drives any remote host.
LIBVIRTD=${LIBVIRTD:-/usr/sbin/libvirtd}
LIBVIRT_MODULES=${LIBVIRT_MODULES:-/usr/lib/x86_64-linux-gnu/libvirt}
LIBVIRT_PLUGINS=(connection-driver/libvirt_driver_qemu.so connection-driver/libvirt_driver_storage.so
    storage-backend/libvirt_storage_backend_fs.so storage-file/libvirt_storage_file_fs.so)
# libvirt probes QEMU with accel=kvm:tcg, which loads QEMU's TCG module.
QEMU_TCG_MODULE=${QEMU_TCG_MODULE:-/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so}
# libvirt's CPU models: domcapabilities and host-passthrough need them.
LIBVIRT_CPU_MAP=${LIBVIRT_CPU_MAP:-/usr/share/libvirt/cpu_map}

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
    [ -x "$LIBVIRTD" ] || die "$LIBVIRTD not found (Debian package libvirt-daemon)"
    [ -d "$LIBVIRT_CPU_MAP" ] || die "$LIBVIRT_CPU_MAP not found (Debian package libvirt-daemon)"
    local plugins=() p
    for p in "${LIBVIRT_PLUGINS[@]}"; do
        [ -f "$LIBVIRT_MODULES/$p" ] || die "$LIBVIRT_MODULES/$p not found (Debian packages libvirt-daemon-driver-qemu, libvirt-daemon-driver-storage)"
        plugins+=("$LIBVIRT_MODULES/$p")
    done
    [ -f "$QEMU_TCG_MODULE" ] || die "$QEMU_TCG_MODULE not found (Debian package qemu-system-x86)"
    echo "$BUSYBOX"
    echo "$QEMU"
    echo "$QEMU_TCG_MODULE"
    echo "$LIBVIRTD"
    printf '%s\n' "${plugins[@]}"
    local libs bin
    for bin in "$QEMU" "$QEMU_TCG_MODULE" "$LIBVIRTD" "${plugins[@]}"; do
        libs=$(ldd "$bin") || die "ldd $bin failed"
        if grep -q 'not found' <<< "$libs"; then
            die "ldd $bin: missing libraries: $(grep 'not found' <<< "$libs" | tr -s ' \t' ' ')"
        fi
        awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<< "$libs"
    done | sort -u
    find "$LIBVIRT_CPU_MAP" -type f | LC_ALL=C sort
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
strip --strip-unneeded "$STAGE$QEMU" "$STAGE$LIBVIRTD" 2>/dev/null || true
# What libvirtd and QEMU expect of a system: users (libvirt's QEMU driver parses its default
# user even when qemu.conf names root), a hosts file, libvirt's state directories.
mkdir -p "$STAGE/etc/libvirt" "$STAGE"/var/{lib,cache,log}/libvirt "$STAGE/var/lib/libvirt/gmlab"
ln -s /run "$STAGE/var/run"
# libvirt locks a pty it hands out as a console in /var/lock.
ln -s /run/lock "$STAGE/var/lock"
# libvirtd answers TCP without authentication on L1's user-mode network interface, which only
# the outer QEMU's forward from 127.0.0.1 on this machine reaches (shared/docs/kvm-box-notes.md).
cat > "$STAGE/etc/libvirt/libvirtd.conf" <<'CONF'
listen_tls = 0
listen_tcp = 1
tcp_port = "16509"
auth_tcp = "none"
log_outputs = "3:stderr"
CONF
# No systemd, D-Bus, cgroups or users in L1: QEMU runs as root, unconfined, writing its
# output to a file (no virtlogd).
cat > "$STAGE/etc/libvirt/qemu.conf" <<'CONF'
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
CONF
printf 'root:x:0:0:root:/root:/bin/sh\nlibvirt-qemu:x:64055:104::/var/lib/libvirt:/bin/false\n' > "$STAGE/etc/passwd"
printf 'root:x:0:\nkvm:x:104:\nlibvirt:x:105:\nlibvirt-qemu:x:64055:\n' > "$STAGE/etc/group"
printf '127.0.0.1 localhost\n' > "$STAGE/etc/hosts"
echo gmlab-box > "$STAGE/etc/hostname"

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
