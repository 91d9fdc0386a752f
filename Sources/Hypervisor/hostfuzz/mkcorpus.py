#!/usr/bin/env python3
"""Writes the host fuzzer's seed corpus (corpus/) in the input format harness.c decodes.

Each seed exercises ordinary, valid use of a few services on one modelled machine. On purpose
none holds the answer to a known finding: seed.phys and seed.linear only run the seed's own
example (rcx = 4 on "abc"), byte-wise transfers stay small, and there is no raw *write* at all
(only raw reads). The fuzzer has to find the edges itself.

Usage: mkcorpus.py DIR   (rewrites DIR/seed-*.bin)
"""
import os
import struct
import sys

# Service selection indices: harness.c known[] order.
SVC = {n: i for i, n in enumerate([
    "gmlab.echo", "gmlab.info", "seed.regs", "seed.phys", "seed.linear",
    "gml.regs.echo", "gml.regs.put", "gml.regs.get", "gml.regs.fill", "gml.regs.hash",
    "gml.phys.xfer", "gml.phys.list", "gml.linear.bytewise", "gml.linear.pagewise",
    "gml.linear.probe", "gml.cpu.paging"])}

LENGTHS = [0, 1, 2, 3, 4, 5, 7, 8, 16, 24, 25, 63, 64, 255, 256, 257,
           4095, 4096, 4097, 65536, 262144, 262145, (2 << 20) - 1, 2 << 20, (2 << 20) + 1,
           (16 << 20) - 1, 16 << 20, (16 << 20) + 1, 1 << 32, 1 << 63, 2**64 - 1, 2**64 - 4096]
# gpa edge indices (harness.c compute_edges)
E_HEAP, E_LOWTOP, E_DATA, E_NAMES, E_FRAMES = 8, 11, 14, 15, 17

LAYOUT_1G, LAYOUT_6G, LAYOUT_64M = 0, 1, 2
CPU_LA57, CPU_WP, CPU_SMEP, CPU_SMAP, CPU_NXE, CPU_AC, CPU_PCIDE, CPU_NOPG = 1, 2, 4, 8, 16, 32, 64, 128


def s16(v):
    return struct.pack("<h", v)


def length(n):
    if n in LENGTHS:
        return bytes([LENGTHS.index(n)])
    if n & (n - 1) == 0 and 256 <= n <= 1 << 31:
        return bytes([0x68 + n.bit_length() - 1 - 8])
    return raw(n)


def const(c):
    assert 0 <= c < 128
    return bytes([0x80 + c])


def raw(v):
    return b"\x66" + struct.pack("<Q", v & (2**64 - 1))


def gpa(edge, delta=0):
    return bytes([0x20 + edge]) + s16(delta)


def gpa_sel(edge, delta=0):  # a gpa selector inside an op (no 0x20 offset)
    return bytes([edge]) + s16(delta)


def data_gva(off=0):
    return b"\x4b" + struct.pack("<H", off)


def window(w, page=0, delta=0):
    return bytes([0x40 + w, page]) + s16(delta)


def direct(edge, delta=0):
    return b"\x49" + bytes([edge]) + s16(delta)


def header(layout=LAYOUT_1G, cpu=CPU_WP | CPU_NXE, extra=0, pool=0):
    return bytes([layout, cpu, extra, pool])


def call(name, *regs, cpl3=False):
    regs = list(regs) + [const(0)] * (5 - len(regs))
    return bytes([0 | (8 if cpl3 else 0), SVC[name]]) + b"".join(regs)


def lookup(k, cpl3=True):
    return bytes([1 | (8 if cpl3 else 0), k])


def mapop(w, idx, level, target, flags, bad=0):
    return bytes([2, w, idx, level - 1]) + target + bytes([flags, bad])


def fill(target, n, value):
    return bytes([3]) + target + n + bytes([value])


def frames(at, targets):
    return bytes([7]) + at + bytes([len(targets)]) + b"".join(targets)


def name_at(target, k):
    return bytes([5]) + target + bytes([k])


def cpu_toggle(bits):
    return bytes([6, bits])


READ, WRITE, RAW = 0, 1, 2

SEEDS = {
    "lookups": header() + b"".join(lookup(k) for k in range(16)),
    "basic": header() + call("gmlab.echo", const(1), const(2), const(3), const(4), const(5), cpl3=True)
    + call("gmlab.info", cpl3=True) + call("seed.regs", const(7), const(8), const(9))
    + call("gml.cpu.paging") + call("gml.cpu.paging", cpl3=True)
    + call("gml.regs.echo", raw(0x1122334455667788), const(1), const(2), const(3), const(4)),
    "seed-examples": header() + call("seed.phys", gpa(E_DATA), length(4))
    + call("seed.linear", data_gva(0), length(4), cpl3=True),
    "phys-xfer": header() + call("gml.phys.xfer", gpa(E_DATA), length(4096), const(READ))
    + call("gml.phys.xfer", gpa(E_DATA, 0x1000), length(4096), const(WRITE), const(7))
    + call("gml.phys.xfer", gpa(E_DATA, 0x1000), length(4096), const(READ), cpl3=True),
    "phys-list": header() + frames(gpa_sel(E_FRAMES), [gpa_sel(E_DATA), gpa_sel(E_DATA, 0x1000)])
    + call("gml.phys.list", gpa(E_FRAMES), length(4096), const(READ), const(0), const(16))
    + call("gml.phys.list", gpa(E_FRAMES), length(64), const(WRITE), const(3), const(0)),
    "linear": header() + call("gml.linear.pagewise", data_gva(0), length(65536), const(READ), cpl3=True)
    + call("gml.linear.pagewise", data_gva(0x3000), length(4096), const(WRITE), const(5), cpl3=True)
    + call("gml.linear.bytewise", data_gva(0x10), length(64), const(READ))
    + call("gml.linear.bytewise", data_gva(0x5000), length(16), const(WRITE), const(9)),
    "probe": header() + call("gml.linear.probe", data_gva(0), const(0), cpl3=True)
    + call("gml.linear.probe", direct(E_HEAP, -8), const(2))
    + call("gml.linear.probe", window(7), const(1)),
    "regs": header() + call("gml.regs.put", const(0), length(24), raw(0x0102030405060708), const(9), const(10))
    + call("gml.regs.get", const(0), length(24), cpl3=True)
    + call("gml.regs.fill", const(100), length(4096), const(42))
    + call("gml.regs.hash", const(100), length(4096)),
    "raw-reads": header() + call("gml.phys.xfer", gpa(E_DATA), length(4096), const(RAW))
    + call("gml.linear.pagewise", data_gva(0), length(8192), const(RAW), cpl3=True),
    "map-user-window": header() + mapop(2, 0, 1, gpa_sel(E_HEAP, -0x1000), 7)
    + call("gml.linear.pagewise", window(2, 0), length(4096), const(READ), cpl3=True)
    + call("gml.linear.probe", window(2, 0), const(0), cpl3=True),
    "la57-6g": header(LAYOUT_6G, CPU_LA57 | CPU_WP | CPU_NXE, extra=3, pool=3)
    + mapop(5, 0, 2, gpa_sel(12), 7)
    + call("gml.linear.pagewise", window(5, 0), length(8192), const(READ), cpl3=True)
    + call("gml.phys.xfer", gpa(12), length(4096), const(WRITE), const(1))
    + call("gmlab.info"),
    "small-64m": header(LAYOUT_64M, pool=1) + call("gml.phys.xfer", gpa(18, -0x1000), length(4096), const(READ))
    + call("gml.phys.xfer", gpa(18, 0x1000), length(4096), const(READ))
    + call("gml.linear.pagewise", direct(18, -0x1000), length(4096), const(READ)),
    "fill-read": header() + fill(gpa_sel(E_DATA, 0x2000), length(4096), 0x41)
    + call("gml.phys.xfer", gpa(E_DATA, 0x2000), length(4096), const(READ))
    + call("gml.linear.bytewise", data_gva(0x2000), length(64), const(READ), cpl3=True),
    "name-at-page-end": header() + name_at(gpa_sel(E_NAMES, 0xff5), 0)
    + bytes([1 | 8, 0xf0]) + b"\x4a" + bytes([11]),
    "smap": header(cpu=CPU_WP | CPU_NXE | CPU_SMAP) + call("gml.linear.pagewise", data_gva(0), length(4096), const(READ))
    + cpu_toggle(4) + call("gml.linear.pagewise", data_gva(0), length(4096), const(READ)),
    "paging-off": header(cpu=CPU_NOPG) + call("gml.linear.pagewise", gpa(E_DATA), length(4096), const(READ))
    + call("gml.cpu.paging"),
    "legacy-mode": header(extra=0x10) + call("gml.linear.bytewise", data_gva(0), length(4), const(READ), cpl3=True)
    + bytes([1 | 8, 3]),
    "vmx-maxphy36": header(extra=0x08 | 1) + call("gmlab.info") + call("gml.linear.probe", data_gva(0), const(0)),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.startswith("seed-") and f.endswith(".bin"):
            os.remove(os.path.join(out, f))
    for name, data in SEEDS.items():
        with open(os.path.join(out, f"seed-{name}.bin"), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()
