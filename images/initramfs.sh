#!/bin/bash
# Build the guest's base initramfs and the case catalog:
#   OUTDIR/initramfs.cpio.gz   gzip'd newc cpio: busybox, /init, the agent, /gmlab/tests/*,
#                              /gmlab/bin/* (example tools),
#                              the lab's kernel module(s), and the stock kernel modules the
#                              tests need (with their dependencies and a trimmed modules.dep)
#   OUTDIR/cases.json          every case of every test program (their --list output, run here
#                              on the host: they are static x86-64 binaries), as one JSON array,
#                              each object with "program" added
# The per-VM plan is not in here: the orchestrator appends a second (uncompressed) cpio holding
# gmlab/plan; the kernel unpacks concatenated archives in order.
# The archive is reproducible (fixed owners and mtimes, sorted), so its hash can key a cache.
set -euo pipefail

usage() {
    echo "usage: $0 OUTDIR KERNEL_DIR GUEST_BUILD_DIR" >&2
    echo "  KERNEL_DIR: made by images/kernel.sh (version, modules/)" >&2
    echo "  GUEST_BUILD_DIR: made by 'make -C Sources/Guest O=…' (agent, tests/, *.ko)" >&2
    exit 2
}
die() { echo "initramfs.sh: error: $*" >&2; exit 1; }
log() { echo "initramfs.sh: $*" >&2; }

[ $# -eq 3 ] || usage
OUTDIR=$1 KDIR=$2 GDIR=$3
HERE=$(cd "$(dirname "$0")" && pwd)

# Stock modules the tests load on demand (modprobe NAME in the guest); dependencies are added.
# zram: swap tests (pages of a test buffer paged out under the hypervisor's feet).
# kvm-amd: lab bench's peer-hypervisor baseline (KVM inside a backend-none guest).
STOCK_MODULES=(zram kvm-amd)

BUSYBOX=${BUSYBOX:-/bin/busybox}

# ---- inputs, checked up front with what is wrong and where ----------------------------------
[ -f "$KDIR/version" ] || die "$KDIR/version missing: run images/kernel.sh $KDIR first"
KVER=$(cat "$KDIR/version")
KMODS="$KDIR/modules"
[ -f "$KMODS/modules.dep" ] || die "$KMODS/modules.dep missing: $KDIR is incomplete (rerun images/kernel.sh)"
[ -x "$GDIR/agent" ] || die "$GDIR/agent missing: run make -C Sources/Guest O=$GDIR KVER=$KVER"
compgen -G "$GDIR/tests/*" >/dev/null || die "$GDIR/tests/ has no test programs"
compgen -G "$GDIR/*.ko" >/dev/null || die "$GDIR has no kernel module (*.ko): run make -C Sources/Guest O=$GDIR KVER=$KVER"
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found (Debian package busybox-static)"
file -L "$BUSYBOX" | grep -q 'statically linked' || die "$BUSYBOX is not statically linked (install busybox-static)"
for ko in "$GDIR"/*.ko "$GDIR"/seed/*.ko; do
    [ -e "$ko" ] || continue
    vm=$(modinfo -F vermagic "$ko" 2>/dev/null | cut -d' ' -f1)
    [ "$vm" = "$KVER" ] || die "$ko was built for kernel '$vm', the guest kernel is '$KVER': rebuild with KVER=$KVER"
done

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gml-initramfs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STAGE=$WORK/root

# ---- layout --------------------------------------------------------------------------------
mkdir -p "$STAGE" "$STAGE"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,gmlab/tests,gmlab/modules}
cp "$BUSYBOX" "$STAGE/bin/busybox"
# every applet as a symlink, at the path busybox itself names
"$BUSYBOX" --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] || [ -e "$STAGE/$applet" ] || ln -s /bin/busybox "$STAGE/$applet"
done
# the kernel opens /dev/console for init's stdio before anything mounts devtmpfs
mknod -m 600 "$STAGE/dev/console" c 5 1
install -m 755 "$HERE/guest-init.sh" "$STAGE/init"
install -m 755 "$GDIR/agent" "$STAGE/gmlab/agent"
for t in "$GDIR"/tests/*; do
    [ -f "$t" ] && [ -x "$t" ] && install -m 755 "$t" "$STAGE/gmlab/tests/"
done
# tools for a human at the guest console (BitVisor-style call_vmm programs), if built
if compgen -G "$GDIR/examples/*" >/dev/null; then
    mkdir -p "$STAGE/gmlab/bin"
    install -m 755 "$GDIR"/examples/* "$STAGE/gmlab/bin/"
fi
install -m 644 "$GDIR"/*.ko "$STAGE/gmlab/modules/"
# the seed document's examples (programs and foo.ko), run by the seed suite; not auto-loaded
if compgen -G "$GDIR/seed/*" >/dev/null; then
    mkdir -p "$STAGE/gmlab/seed"
    for f in "$GDIR"/seed/*; do
        case "$f" in
            *.ko) install -m 644 "$f" "$STAGE/gmlab/seed/"
                  strip --strip-debug "$STAGE/gmlab/seed/$(basename "$f")" ;;
            *)    install -m 755 "$f" "$STAGE/gmlab/seed/" ;;
        esac
    done
fi
strip --strip-debug "$STAGE"/gmlab/modules/*.ko   # debug info stays in GUEST_BUILD_DIR

# ---- stock kernel modules with their dependencies (from modules.dep) -------------------------
# shellcheck source=images/stock-modules.sh
. "$(dirname "$0")/stock-modules.sh"
MODROOT="$STAGE/lib/modules/$KVER"
install_stock_modules "$MODROOT" "${STOCK_MODULES[@]}"

# ---- catalog (on the host) ------------------------------------------------------------------
CASES="$WORK/cases.json"
{
    echo "["
    first=1
    for t in "$STAGE"/gmlab/tests/*; do
        prog=$(basename "$t")
        out=$("$t" --list) || die "$GDIR/tests/$prog --list failed (exit $?)"
        while IFS= read -r line; do
            [ -n "$line" ] || continue
            case "$line" in
                '{"id":'*'}') ;;
                *) die "$GDIR/tests/$prog --list printed a line that is not a case object: $line" ;;
            esac
            [ $first -eq 1 ] || echo ","
            first=0
            printf '  {"program":"%s",%s' "$prog" "${line#\{}"
        done <<< "$out"
    done
    echo
    echo "]"
} > "$CASES"
NCASES=$(grep -c '"id":' "$CASES" || true)
[ "$NCASES" -gt 0 ] || die "no cases listed by the test programs"
ids=$(grep -o '"id":"[^"]*"' "$CASES" | sort | uniq -d)
[ -z "$ids" ] || die "case ids listed more than once: $ids"

# ---- archive --------------------------------------------------------------------------------
find "$STAGE" -exec touch -h -d @0 {} +
(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
    gzip -9n > "$OUTDIR/initramfs.cpio.gz.tmp"
# The kernel accepts an uncompressed cpio after a compressed one only at a 4-byte aligned
# offset (init/initramfs.c), so pad with zeros (which it skips) to 512: the orchestrator can
# then simply append the plan archive.
size=$(stat -c %s "$OUTDIR/initramfs.cpio.gz.tmp")
pad=$(( (512 - size % 512) % 512 ))
[ $pad -eq 0 ] || head -c $pad /dev/zero >> "$OUTDIR/initramfs.cpio.gz.tmp"
mv "$OUTDIR/initramfs.cpio.gz.tmp" "$OUTDIR/initramfs.cpio.gz"
mv "$CASES" "$OUTDIR/cases.json"
log "$OUTDIR/initramfs.cpio.gz ($(du -h "$OUTDIR/initramfs.cpio.gz" | cut -f1)), kernel $KVER, $NCASES cases, stock modules: $(printf '%s ' "${!STOCK_WANT[@]}" | xargs -n1 basename | tr '\n' ' ')"
