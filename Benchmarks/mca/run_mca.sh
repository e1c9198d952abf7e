#!/usr/bin/env bash
# Static throughput of the inner loops on arm64 (`make mca`): the kernels
# compiled for generic aarch64 as SwiftPM builds them (clang -O2), each loop
# given to llvm-mca for Neoverse-V1, Neoverse-N1 and Apple M1, NEON against
# scalar (elements per cycle). Needs clang (Swift's works), llvm-mca 17 or
# newer (Debian: llvm-19; older ones have no Neoverse models) and the arm64
# libm for the scalar loops' libm calls (libc6:arm64, which `make test-arm64`
# installs); TriHard's loops run under qemu-user (aarch64-linux-gnu-gcc links
# them), see mca_loops.py. Usage: Benchmarks/mca/run_mca.sh [--verbose]
set -euo pipefail
cd "$(dirname "$0")/../.."
CLANG=${CLANG:-$(command -v clang || echo /opt/swift/usr/bin/clang)}
MCA=${MCA:-$(command -v llvm-mca-19 || command -v llvm-mca)}
OBJDUMP=${OBJDUMP:-$(command -v llvm-objdump-19 || command -v llvm-objdump)}
LIBM=${LIBM:-/lib/aarch64-linux-gnu/libm.so.6}
SYSROOT=${SYSROOT:-/usr/aarch64-linux-gnu}
CPUS=${CPUS:-neoverse-v1,neoverse-n1,apple-m1}
OUT=build/mca
mkdir -p "$OUT"
for unit in elementwise softmax boxes metric; do
  "$CLANG" --target=aarch64-linux-gnu --sysroot="$SYSROOT" -std=c11 -O2 -DLOSSKIT_BUILDING -S \
    "Benchmarks/mca/probes_$unit.c" -o "$OUT/probes_$unit.s"
done
echo "clang: $("$CLANG" --version | head -1)"
echo "llvm-mca: $("$MCA" --version | grep -i 'llvm version' | head -1 | xargs)"
python3 Benchmarks/mca/mca_loops.py --asm-dir "$OUT" --mca "$MCA" --sysroot "$SYSROOT" --cpus "$CPUS" \
  --clang "$CLANG" --objdump "$OBJDUMP" "$@"
