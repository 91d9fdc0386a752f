#!/bin/sh
# /init of the KVM box's L1 (busybox sh, PID 1). Installed by images/kvm-box.sh.
# L1 is a KVM host under QEMU TCG with SVM: it loads kvm_amd with nested=1 and either runs L2 —
# the lab's hypervisor with its bundle — under qemu-system-x86_64 -accel kvm -cpu host, then
# powers off (BOX_MODE=run, `lab box`), or serves libvirt until the lab kills it
# (BOX_MODE=libvirt: the machine "box" of `lab run`). Every line meant for the lab starts with "GMLAB-BOX: " on L1's console (ttyS0).
#
# The lab appends /box/run.conf (shell variables, below), /box/hv.elf and /box/bundle.img.
# L2's three serial ports (console, agent results, hypervisor log) go to files in /tmp/l2,
# which a loop here copies, as they grow (every 0.5 s), to three virtio serial ports of L1
# named gmlab.l2.console, gmlab.l2.results and gmlab.l2.hypervisor; the outer QEMU writes those
# to three files. At the end L1 prints each file's size and digest, and the lab checks that
# every byte arrived. (QEMU writing L2's serial ports straight to the virtio ports would drop
# a byte after four EAGAINs in a row, and its chardev logfile would log retried bytes twice.)
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp

say() { echo "GMLAB-BOX: $*"; }
finish() {
    say "powering off"
    poweroff -f
    while :; do sleep 3600; done
}
fail() {
    say "FAILED: $*"
    finish
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }

say "L1 userspace up after $(uptime_s) s, kernel $(uname -r)"

[ -f /box/run.conf ] || fail "no /box/run.conf: the lab appends it (with hv.elf and bundle.img for one L2 run)"
# BOX_MODE: "run" (default: one L2 run, below) or "libvirt" (a libvirt machine, serve_libvirt).
# For "run": L2_MEMORY_MIB, L2_CPU (e.g. host), L2_TIMEOUT (seconds L1 lets L2 run before
# killing it), L2_HV_CMDLINE (the hypervisor's own command line, e.g. gmlab.policy=bitvisor).
. /box/run.conf

# kvm_amd under QEMU TCG (SVM); kvm_intel when L1's CPU has VMX (an Intel model, e.g. Bochs).
if grep -qw vmx /proc/cpuinfo; then
    modprobe kvm_intel nested=1 || fail "modprobe kvm_intel nested=1 failed"
    [ -c /dev/kvm ] || fail "/dev/kvm missing after loading kvm_intel"
    P=/sys/module/kvm_intel/parameters
    say "kvm_intel loaded: nested=$(cat $P/nested) ept=$(cat $P/ept) unrestricted_guest=$(cat $P/unrestricted_guest) enable_shadow_vmcs=$(cat $P/enable_shadow_vmcs)"
else
    modprobe kvm_amd nested=1 || fail "modprobe kvm_amd nested=1 failed (does L1's CPU offer svm?)"
    [ -c /dev/kvm ] || fail "/dev/kvm missing after loading kvm_amd"
    P=/sys/module/kvm_amd/parameters
    say "kvm_amd loaded: nested=$(cat $P/nested) npt=$(cat $P/npt) nrips=$(cat $P/nrips) vgif=$(cat $P/vgif) vls=$(cat $P/vls)"
fi

# The box as a libvirt machine: libvirtd on L1's user-mode network interface (10.0.2.15, the
# address QEMU's slirp gives its guest), which the lab reaches only through the outer QEMU's
# forward from 127.0.0.1; the lab drives it as any remote host (pool uploads, console streams).
# A heartbeat line every 2 s lets the lab tell the box's known TCG stall from a slow VM.
serve_libvirt() {
    mkdir -p /dev/pts
    mount -t devpts devpts /dev/pts -o gid=5,mode=620,ptmxmode=666 || fail "mounting /dev/pts failed (VMs' serial ptys)"
    mount -t tmpfs tmpfs /run
    mkdir -p /run/libvirt /run/lock /dev/shm
    modprobe virtio_pci || fail "modprobe virtio_pci failed"
    modprobe virtio_net || fail "modprobe virtio_net failed"
    i=0
    while ! ip link show eth0 >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 100 ] || fail "no eth0 after loading virtio_net"
        sleep 0.1
    done
    ip link set lo up
    ip addr add 10.0.2.15/24 dev eth0 || fail "ip addr add 10.0.2.15/24 dev eth0 failed"
    ip link set eth0 up || fail "ip link set eth0 up failed"
    hostname gmlab-box
    libvirtd --listen -f /etc/libvirt/libvirtd.conf > /dev/console 2>&1 &
    say "libvirtd started (pid $!) at $(uptime_s) s, listening on tcp port 16509"
    while :; do
        kill -0 $! 2>/dev/null || fail "libvirtd (pid $!) ended"
        echo "GMLAB-BOX: tick $(uptime_s)"
        sleep 2
    done
}
[ "${BOX_MODE:-run}" = libvirt ] && serve_libvirt
[ "${BOX_MODE:-run}" = run ] || fail "unknown BOX_MODE ${BOX_MODE} in /box/run.conf (run or libvirt)"
for f in /box/hv.elf /box/bundle.img; do
    [ -s "$f" ] || fail "$f missing from the appended archive"
done

modprobe virtio_pci || fail "modprobe virtio_pci failed"
modprobe virtio_console || fail "modprobe virtio_console failed"
# The ports' names arrive from the device after the driver binds: wait for all three.
port() {
    for p in /sys/class/virtio-ports/*; do
        [ "$(cat "$p/name" 2>/dev/null)" = "$1" ] && { echo "/dev/${p##*/}"; return 0; }
    done
    return 1
}
i=0
while :; do
    CON=$(port gmlab.l2.console) && RES=$(port gmlab.l2.results) && HV=$(port gmlab.l2.hypervisor) && break
    i=$((i + 1))
    [ $i -lt 100 ] || fail "virtio serial ports gmlab.l2.{console,results,hypervisor} did not appear (have: $(cat /sys/class/virtio-ports/*/name 2>/dev/null | tr '\n' ' '))"
    sleep 0.1
done
for d in "$CON" "$RES" "$HV"; do
    [ -c "$d" ] || fail "$d is not a character device"
done

mkdir -p /tmp/l2
: > /tmp/l2/console.log
: > /tmp/l2/results.log
: > /tmp/l2/hypervisor.log
# pump FILE DEVICE: write what FILE gained since the last call to DEVICE (blocking writes;
# exact byte counts, so nothing is sent twice or lost). The offsets live in this shell.
off_console=0 off_results=0 off_hypervisor=0
pump() {
    eval "off=\$off_$1"
    size=$(wc -c < "/tmp/l2/$1.log")
    [ "$size" -gt "$off" ] || return 0
    dd if="/tmp/l2/$1.log" bs=4096 skip="$off" count=$((size - off)) iflag=skip_bytes,count_bytes \
        status=none > "$2" || say "copying $1 to $2 failed"
    eval "off_$1=$size"
}
# The copier doubles as a heartbeat (a line every 2 s): the lab treats a long gap as the box's
# known stall (L1 stops getting timer interrupts while a nested guest runs under TCG), an
# infrastructure flake, never L2's fault. It stops after a last copy once /tmp/l2/stop exists.
(
    while :; do
        [ -e /tmp/l2/stop ] && last=1 || last=0
        pump console "$CON"
        pump results "$RES"
        pump hypervisor "$HV"
        [ $last = 1 ] && exit 0
        n=$((n + 1))
        [ $((n % 4)) -eq 1 ] && echo "GMLAB-BOX: tick $(uptime_s)"
        sleep 0.5
    done
) &
copier=$!
say "starting L2: qemu-system-x86_64 -accel kvm -cpu $L2_CPU -m $L2_MEMORY_MIB (limit ${L2_TIMEOUT}s) at $(uptime_s) s"
timeout -s KILL "$L2_TIMEOUT" qemu-system-x86_64 \
    -accel kvm -cpu "$L2_CPU" -m "$L2_MEMORY_MIB" -smp 1 \
    -nodefaults -no-user-config -display none -no-reboot \
    -kernel /box/hv.elf -initrd /box/bundle.img -append "${L2_HV_CMDLINE:-}" \
    -chardev file,id=console,path=/tmp/l2/console.log \
    -chardev file,id=results,path=/tmp/l2/results.log \
    -chardev file,id=hypervisor,path=/tmp/l2/hypervisor.log \
    -serial chardev:console -serial chardev:results -serial chardev:hypervisor
rc=$?
say "L2 ended: qemu exit status $rc at $(uptime_s) s"
touch /tmp/l2/stop
wait $copier
for s in console results hypervisor; do
    f=/tmp/l2/$s.log
    say "stream $s bytes $(wc -c < "$f") sha256 $(sha256sum "$f" | cut -d' ' -f1)"
done
finish
