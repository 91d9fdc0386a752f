#!/bin/sh
# Loads modules/abc2foo_kmod.ko (its init makes the hypercall and fails unless "abc" became
# "foo"), shows what it logged, and unloads it so the case can run again.
insmod modules/abc2foo_kmod.ko
rc=$?
dmesg | grep 'abc2foo_kmod:' | tail -n 1
[ $rc -eq 0 ] && rmmod abc2foo_kmod
exit $rc
