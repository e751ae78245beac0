"""PyTorch at its best needs OpenBLAS's kernel for this CPU: which kernel OpenBLAS picked, the one
this CPU's features call for, and the environment that gives the PyTorch side the right one.

OpenBLAS (a DYNAMIC_ARCH build such as Debian's) picks its kernels from the CPU's family and model
numbers, or from OPENBLAS_CORETYPE when the environment sets it; a CPU newer than the OpenBLAS
release may get an older, slower kernel, and so may an inherited OPENBLAS_CORETYPE (the machines
of this project export OPENBLAS_CORETYPE=Haswell: AVX2 kernels on an AVX-512 CPU). The drivers
(run_speed_bench.py, run_main_bench.py) call torch_env_for_cpu() and set OPENBLAS_CORETYPE for
the PyTorch side alone when the pick is below what the CPU's features allow, and withhold a
gptrec / PyTorch ratio when PyTorch's bare GEMM stays far below the machine's measured peak
(gemm_is_fair).
"""
import json
import subprocess
import sys

# OpenBLAS kernels that use AVX-512, and those that use AVX2 at least (names as
# openblas_get_corename() spells them).
AVX512_CORES = {"skylakex", "cooperlake", "sapphirerapids"}
AVX2_CORES = AVX512_CORES | {"haswell", "zen"}

# PyTorch's bare GEMM below this fraction of the machine's measured peak: no ratio is printed.
FAIR_GEMM_FRACTION = 0.5

PROBE = r"""
import ctypes, torch
torch.matmul(torch.ones(8, 8), torch.ones(8, 8))
path = next((l.split()[-1] for l in open("/proc/self/maps")
             if "openblas" in l.split()[-1] or "libblas" in l.split()[-1]), None)
core = None
if path:
    lib = ctypes.CDLL(path)
    if hasattr(lib, "openblas_get_corename"):
        lib.openblas_get_corename.restype = ctypes.c_char_p
        core = lib.openblas_get_corename().decode()
print(json_dumps({"library": path, "core": core}))
"""


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def expected_core(flags):
    """The OpenBLAS kernel this CPU's features call for, or None (no AVX2)."""
    if {"avx512f", "avx512vl", "avx512bw", "avx512dq"} <= flags:
        return "Cooperlake" if "avx512_bf16" in flags else "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def picked_core(env):
    """{"library": the BLAS library torch loaded, "core": OpenBLAS's kernel name or None}."""
    code = "from json import dumps as json_dumps\n" + PROBE
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def misdetected(core, flags):
    if core is None:
        return False  # not OpenBLAS (or too old to say): nothing to correct
    name = core.lower()
    if {"avx512f", "avx512vl", "avx512bw", "avx512dq"} <= flags:
        return name not in AVX512_CORES
    if {"avx2", "fma"} <= flags:
        return name not in AVX2_CORES
    return False


def torch_env_for_cpu(env):
    """(env for the PyTorch side, report). When OpenBLAS picked a kernel below the CPU's
    features (by itself or from an inherited OPENBLAS_CORETYPE), env gets OPENBLAS_CORETYPE set
    to the expected one (and the pick is checked again); otherwise env is returned unchanged."""
    flags = cpu_flags()
    probe = picked_core(env)
    report = {"library": probe["library"], "picked": probe["core"],
              "inherited_coretype": env.get("OPENBLAS_CORETYPE"),
              "expected": expected_core(flags), "coretype_set": None}
    if misdetected(probe["core"], flags) and report["expected"]:
        env = dict(env, OPENBLAS_CORETYPE=report["expected"])
        report["coretype_set"] = report["expected"]
        report["picked_after"] = picked_core(env)["core"]
    return env, report


def gemm_is_fair(torch_gflops, peak_gflops):
    return torch_gflops >= FAIR_GEMM_FRACTION * peak_gflops


def describe(report):
    text = f"OpenBLAS kernel picked: {report['picked']}"
    if report.get("inherited_coretype"):
        text += f" (the environment's OPENBLAS_CORETYPE={report['inherited_coretype']})"
    text += f"; this CPU calls for {report['expected']}"
    if report.get("coretype_set"):
        text += (f"; below the CPU: the PyTorch side runs with OPENBLAS_CORETYPE="
                 f"{report['coretype_set']} (now {report.get('picked_after')})")
    return text
