#!/usr/bin/env python3
"""Static throughput of LossKit's inner loops on aarch64: NEON against scalar.

For each kernel (table LOOPS), a probe function (Benchmarks/mca/probes_*.c:
the kernel's inner loop with its parameters fixed, built from the kernels'
own element and vector functions) is compiled for generic aarch64 as
SwiftPM builds the kernels (clang -O2, no -mcpu; the assembly in
--asm-dir), its loop is cut out and given to llvm-mca for each core;
elements per cycle = elements one iteration handles / cycles per iteration
(llvm-mca's steady state: total cycles / iterations).

The scalar loops call libm (expf, logf, log1pf). llvm-mca cannot follow a
call, so each `bl` to libm is replaced by the function's main path, taken
from the arm64 libm itself (llvm-objdump): its instructions from the entry
to the first `ret`, following calls and unconditional branches, conditional
branches not taken (glibc's fast path falls through) except where MAIN_PATH
says the fast path is the taken branch. Other calls stay a single `bl`.

Probe units in TRACED (TriHard) branch on their data, so a static body
would charge every cold path each iteration (the scalar loop's untaken
compares, the NEON loop's exact repair of a cancelling pair): there the
probe file's mca_drive runs both paths on the same typical data under
qemu-user, and llvm-mca gets the instructions the run executed between the
loop's first and last header (traced_run), once; cycles per iteration =
llvm-mca's total cycles / iterations. Both paths do the same work per
element: the same columns, values and updates, in the kernel's own code.

Usage: mca_loops.py --asm-dir build/mca --mca llvm-mca-19 --objdump llvm-objdump-19 --libm PATH --cpus neoverse-v1,...
Prints a Markdown table; --verbose prints each loop's instructions.
"""
import argparse
import re
import subprocess
import sys

# kernel, probe unit (Benchmarks/mca/probes_<unit>.c), probe function, path, elements per iteration.
# Each probe holds the kernel's inner loop (its own element / vector functions) with no unrolling.
LOOPS = [
    ("sigmoid focal (loss + grad)", "elementwise", "mca_sigmoid_focal_neon", "neon", 4),
    ("sigmoid focal (loss + grad)", "elementwise", "mca_sigmoid_focal_scalar", "scalar", 1),
    ("Wing (loss + grad)", "elementwise", "mca_wing_neon", "neon", 4),
    ("Wing (loss + grad)", "elementwise", "mca_wing_scalar", "scalar", 1),
    ("shrinkage (loss + grad)", "elementwise", "mca_shrinkage_neon", "neon", 4),
    ("shrinkage (loss + grad)", "elementwise", "mca_shrinkage_scalar", "scalar", 1),
    ("softmax CE (exp pass)", "softmax", "mca_softmax_exp_neon", "neon", 4),
    ("softmax CE (exp pass)", "softmax", "mca_softmax_exp_scalar", "scalar", 1),
    ("IoU matrix (plain IoU)", "boxes", "mca_iou_neon", "neon", 4),
    ("IoU matrix (plain IoU)", "boxes", "mca_iou_scalar", "scalar", 1),
    ("TriHard reduction (Euclidean)", "metric", "mca_trihard_neon", "neon", 4),
    ("TriHard reduction (Euclidean)", "metric", "mca_trihard_scalar", "scalar", 1),
]
# Probe units whose loops branch on their data (TriHard: the scalar loop on
# every compare, the NEON loop on the rare exact repair): their cycles come
# from the instructions a run executes (traced), not the loop's static body,
# which would count every cold path as if it ran each iteration.
TRACED = {"metric"}




def function_lines(asm, name):
    out, inside = [], False
    for line in asm.splitlines():
        if line.startswith(name + ":"):
            inside = True
            continue
        if inside:
            if line.startswith(".Lfunc_end") or re.match(r"^\s*\.size\s+" + re.escape(name), line):
                break
            out.append(line)
    if not out:
        sys.exit(f"function {name} not found")
    return out


def is_insn(line):
    s = line.strip()
    return s and not s.startswith((".", "//", "#")) and not s.endswith(":")


BLOCK = re.compile(r"^(\.LBB\d+_\d+:|//\s*%bb\.\d+:)\s*(//.*)?$")


def loop_blocks(lines):
    """{loop header: [instruction lines of the blocks whose innermost loop it
    is]}, from clang's block annotations ("in Loop: Header=BBx_y", "=>This
    Loop Header"), in layout order: a loop's blocks placed after its latch
    (cold paths) are part of it too."""
    loops, current = {}, None
    for i, line in enumerate(lines):
        m = BLOCK.match(line)
        if m:
            label = m.group(1)[:-1] if m.group(1).startswith(".LBB") else None
            note = m.group(2) or ""
            if not note and i + 1 < len(lines) and lines[i + 1].strip().startswith("//"):
                note = lines[i + 1]
            h = re.search(r"Header=BB(\d+_\d+)", note)
            if h:
                current = ".LBB" + h.group(1)
            elif "Loop Header" in note and label:
                current = label
            else:
                current = None
            continue
        if current and is_insn(line):
            loops.setdefault(current, []).append(line)
    return loops


# the argument a traced libm call gets: a typical one for the kernels that call it
TYPICAL = {"expf": -1.3, "logf": 2.7, "log1pf": 0.7, "powf": 0.6}
TRACER = r"""
#include <math.h>
#include <stdio.h>
int main(void) {
    volatile float x = ARG;
    float (*volatile f)(float) = FN;
    printf("%p\n", (void *)f);
    volatile float y = f(x); /* the first call resolves the symbol */
    y = f(x);                /* this one is traced */
    return y != y;
}
"""


def qemu_log(log):
    """qemu-user's -d in_asm,exec,nochain log: {block start: [(address,
    instruction)]} (branch targets "." - llvm-mca needs no addresses; qemu
    prints immediates in hex with '#') and the block starts in the order
    they ran."""
    blocks, order, cur = {}, [], None
    for line in open(log):
        t = re.match(r"^Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/", line)
        if t:
            order.append(int(t.group(1), 16))
            cur = None
            continue
        if line.startswith("IN:"):
            cur = "new"
            continue
        m = re.match(r"^0x([0-9a-f]+):\s+[0-9a-f]+\s+(.*)$", line)
        if m and cur is not None:
            pc = int(m.group(1), 16)
            if cur == "new":
                cur = pc
                blocks[cur] = []
            ins = m.group(2).strip()
            if re.match(r"^(b|bl|b\.\w+|cbn?z|tbn?z)\s", ins):
                ins = re.sub(r"#0x[0-9a-f]+$", ".", ins)
            blocks[cur].append((pc, ins))
        elif not line.strip():
            cur = None
    return blocks, order


def libm_main_path(name, cache={}):
    """The instructions one call of libm's `name` executes for a typical
    argument, in order: an aarch64 program calls it twice under qemu-user,
    whose execution log (-d in_asm,exec,nochain) gives every translated
    block's instructions and the order blocks ran in; the second call's
    blocks, from its entry to the return into the program, are the path."""
    if name in cache:
        return cache[name]
    if name not in TYPICAL:
        cache[name] = None
        return None
    import os
    import tempfile
    tmp = tempfile.mkdtemp(prefix="lk-mca-")
    src, exe, log = f"{tmp}/t.c", f"{tmp}/t", f"{tmp}/qemu.log"
    open(src, "w").write(TRACER.replace("ARG", f"{TYPICAL[name]}f").replace("FN", name))
    subprocess.run([ARGS.cross_cc, "-O1", src, "-lm", "-o", exe], check=True)
    env = dict(os.environ, QEMU_LD_PREFIX=ARGS.sysroot)
    out = subprocess.run(["qemu-aarch64", "-E", f"LD_LIBRARY_PATH={ARGS.sysroot}/lib", "-d", "in_asm,exec,nochain",
                          "-D", log, exe], capture_output=True, text=True, env=env, check=True).stdout
    entry = int(out.split()[0], 16)
    blocks, order = qemu_log(log)
    calls = [i for i, pc in enumerate(order) if pc == entry]
    if len(calls) < 2:
        sys.exit(f"tracing {name}: its second call not found")
    path = []
    for pc in order[calls[1]:]:
        if pc < entry and pc < 0x5501000000:  # back in the program (qemu loads it below the libraries)
            break
        path.extend(ins for _, ins in blocks.get(pc, []))
    cache[name] = [p for p in path if not p.startswith("ret")]
    return cache[name]


DRIVER_MAIN = "void mca_drive(void);\nint main(void) { mca_drive(); return 0; }\n"


def traced_run(unit, fn, cache={}):
    """The instructions the probe `fn` executes in its second call (the first
    warms up), from its loop's first header to its last: the probe file's
    mca_drive runs each probe; the assembly mca would read (--asm-dir) is
    assembled, linked with a main calling mca_drive (the kernels' other
    symbols left unresolved: never called) and run under qemu-user, whose
    log (-d in_asm,exec,nochain) gives each translated block's addresses and
    the order blocks ran in. The header is the run's most executed block of
    the executable (the probe's or a kernel function's it calls);
    instructions are the executable's own (llvm-objdump), libm's as qemu
    prints them. Returns (instructions, iterations, one middle iteration)."""
    import os
    import tempfile
    if unit not in cache:
        tmp = tempfile.mkdtemp(prefix="lk-mca-trace-")
        obj, main, exe, log = f"{tmp}/probe.o", f"{tmp}/main.c", f"{tmp}/probe", f"{tmp}/qemu.log"
        open(main, "w").write(DRIVER_MAIN)
        subprocess.run([ARGS.clang, "--target=aarch64-linux-gnu", "-c", f"{ARGS.asm_dir}/probes_{unit}.s", "-o", obj], check=True)
        subprocess.run([ARGS.cross_cc, "-no-pie", main, obj, "-lm", "-Wl,--unresolved-symbols=ignore-all", "-o", exe], check=True)
        env = dict(os.environ, QEMU_LD_PREFIX=ARGS.sysroot)
        subprocess.run(["qemu-aarch64", "-E", f"LD_LIBRARY_PATH={ARGS.sysroot}/lib", "-d", "in_asm,exec,nochain", "-D", log, exe],
                       check=True, env=env)
        syms = {}
        for line in subprocess.run([ARGS.nm, "-S", exe], capture_output=True, text=True, check=True).stdout.splitlines():
            f = line.split()
            if len(f) == 4:
                syms[f[3]] = (int(f[0], 16), int(f[0], 16) + int(f[1], 16))
        text = {}
        for line in subprocess.run([ARGS.objdump, "-d", "--no-show-raw-insn", exe], capture_output=True, text=True,
                                   check=True).stdout.splitlines():
            m = re.match(r"^\s*([0-9a-f]+):\s+(\S.*)$", line)
            if m:
                ins = m.group(2).split("//")[0].strip()
                # branch targets become "." (llvm-mca needs no addresses)
                ins = re.sub(r"^((?:b|bl|b\.\w+|cbn?z|tbn?z)\s+(?:[^,]+,\s*)*)0x[0-9a-f]+(\s*<[^>]*>)?$", r"\1.", ins)
                text[int(m.group(1), 16)] = ins
        blocks, order = qemu_log(log)
        blocks = {pc: [text.get(a, ins) for a, ins in b] for pc, b in blocks.items()}
        cache[unit] = (syms, blocks, order, text)
    syms, blocks, order, text = cache[unit]
    lo, hi = syms[fn]
    calls = [i for i, pc in enumerate(order) if pc == lo]
    if len(calls) < 2:
        sys.exit(f"tracing {fn}: its second call not found")
    start = calls[1]
    dlo, dhi = syms["mca_drive"]
    stop = next(i for i in range(start, len(order)) if dlo <= order[i] < dhi)  # back in the driver
    window = order[start:stop]
    counts = {}
    for pc in window:
        if pc in text:  # the executable's code: the probe and the kernel functions it calls
            counts[pc] = counts.get(pc, 0) + 1
    header = max(counts, key=lambda pc: (counts[pc], -pc))
    hits = [i for i, pc in enumerate(window) if pc == header]
    def run(a, b):
        return [ins for pc in window[a:b] for ins in blocks[pc] if not ins.startswith("ret")]
    mid = len(hits) // 2
    return run(hits[0], hits[-1]), len(hits) - 1, run(hits[mid], hits[mid + 1])


def loop_body(block_lines):
    body, calls = [], []
    for line in block_lines:
        ins = line.split("//")[0].strip()
        m = re.match(r"^bl\s+(\w+)", ins)
        if m:
            callee = m.group(1)
            inlined = libm_main_path(callee)
            if inlined is not None:
                calls.append(callee)
                body.extend(inlined)
                continue
        body.append(ins)
    return body, calls


def cycles_per_iteration(mca, cpu, body, iterations=500, repeat=500):
    """llvm-mca's total cycles for `body` run `repeat` times, per iteration
    (a traced body holds `iterations` iterations and runs once)."""
    res = subprocess.run([mca, "-mtriple=aarch64", f"-mcpu={cpu}", f"-iterations={repeat}",
                          "-skip-unsupported-instructions=parse-failure"],
                         input="\n".join(body) + "\n", capture_output=True, text=True)
    m = re.search(r"Total Cycles:\s+(\d+)", res.stdout)
    if not m:
        sys.exit(f"llvm-mca failed: {res.stderr}")
    return int(m.group(1)) / iterations


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--asm-dir", required=True)
    ap.add_argument("--mca", required=True)
    ap.add_argument("--cross-cc", default="aarch64-linux-gnu-gcc")
    ap.add_argument("--clang", default="clang")
    ap.add_argument("--nm", default="aarch64-linux-gnu-nm")
    ap.add_argument("--objdump", default="llvm-objdump-19")
    ap.add_argument("--sysroot", default="/usr/aarch64-linux-gnu")
    ap.add_argument("--cpus", required=True)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    global ARGS
    ARGS = args
    cpus = args.cpus.split(",")
    rows = {}
    for kernel, unit, fn, path, elems in LOOPS:
        for cpu in cpus:
            if unit in TRACED:
                body, iterations, one = traced_run(unit, fn)
                calls = []
                cyc = cycles_per_iteration(args.mca, cpu, body, iterations, 1)
            else:
                asm = open(f"{args.asm_dir}/probes_{unit}.s").read()
                lines = function_lines(asm, fn)
                blocks = loop_blocks(lines)
                if not blocks:
                    sys.exit(f"{kernel} {path}: no loop in {fn}")
                # the probe's loop: the one with the most instructions of its own
                # (inlined helpers may add small loops, e.g. the rare exact repair of a lane)
                body, calls = loop_body(max(blocks.values(), key=len))
                iterations, one = 1, body
                cyc = cycles_per_iteration(args.mca, cpu, body)
            rows.setdefault(kernel, {})[(path, cpu)] = (elems / cyc, len(body) / iterations, calls)
            if args.verbose:
                print(f"--- {kernel} {path} {cpu}: {fn}, {len(body) / iterations:.1f} instructions / iteration"
                      f" ({iterations} traced), {cyc:.2f} cycles / iteration, {elems} elements,"
                      f" libm inlined: {', '.join(calls) or 'none'}")
                print("\n".join("    " + b for b in one))  # traced: one iteration from the middle of the run
    head = "| loop | " + " | ".join(f"{c}: scalar | {c}: NEON | x" for c in cpus) + " |"
    print(head)
    print("|---|" + "---:|---:|---:|" * len(cpus))
    worst = None
    for kernel, cells in rows.items():
        parts = []
        for cpu in cpus:
            s, n = cells[("scalar", cpu)][0], cells[("neon", cpu)][0]
            ratio = n / s
            worst = ratio if worst is None else min(worst, ratio)
            parts.append(f"{s:.3f} | {n:.3f} | {ratio:.1f}")
        print(f"| {kernel} | " + " | ".join(parts) + " |")
    print(f"\nelements per cycle (llvm-mca steady state); smallest NEON / scalar ratio: {worst:.1f}x")


if __name__ == "__main__":
    main()
