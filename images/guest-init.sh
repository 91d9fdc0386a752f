#!/bin/sh
# /init of the GuestMemLab guest (busybox sh, PID 1). Installed by images/initramfs.sh.
# Boot, print the line the lab times boot by, load the lab's module(s), run the agent on the
# results stream (ttyS1, or the port gmlab.results= names), and power off whatever happens: the
# host waits for the VM to end.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/gmlab/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tmpfs tmpfs /tmp
echo "GMLAB-GUEST: userspace up"

# the lab's kernel module(s); a failure is reported, the cases needing /dev/gmlab then say why
for ko in /gmlab/modules/*.ko; do
    [ -e "$ko" ] || continue
    insmod "$ko" || echo "GMLAB-GUEST: insmod $ko failed"
done

# The results stream goes to ttyS1 unless the kernel command line names another port with
# gmlab.results=ttySN: under BitVisor, which logs on COM1, the console moves to ttyS1
# (console=ttyS1) and the results to ttyS2 (gmlab.results=ttyS2).
RESULTS=/dev/ttyS1
for word in $(cat /proc/cmdline); do
    case "$word" in
    gmlab.results=ttyS[0-9]) RESULTS=/dev/${word#gmlab.results=} ;;
    esac
done
# protocol line from init itself, for when the agent cannot say it (docs/architecture.md: guest agent protocol)
agent_error() {
    echo "GMLAB-GUEST: $1"
    [ -c "$RESULTS" ] && echo "GMLAB-AGENT {\"event\":\"error\",\"message\":\"$1\"}" > "$RESULTS"
}

if [ ! -f /gmlab/plan ]; then
    echo "GMLAB-GUEST: no /gmlab/plan in the initramfs (the orchestrator appends it); the agent will report it"
fi
if [ -x /gmlab/agent ]; then
    /gmlab/agent "$RESULTS"
    rc=$?
    if [ $rc -gt 128 ]; then
        agent_error "agent crashed: killed by signal $((rc - 128))"
    elif [ $rc -ne 0 ]; then
        agent_error "agent failed with exit status $rc"
    fi
else
    agent_error "agent /gmlab/agent missing from the initramfs"
fi

echo "GMLAB-GUEST: powering off"
poweroff -f
# poweroff -f does not return; if it did, do not let PID 1 exit (that panics the kernel)
while :; do sleep 3600; done
