"""Process settings for running PyTorch on the CPU (tools/train.py, tools/eval_sasrec.py): keep
freed memory in the heap, and tell when PyTorch's matrix products run on the reference BLAS.
"""
import ctypes
import ctypes.util
import os

# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

# Directory or file names of the optimized BLAS builds that Linux distributions install as
# libblas.so.3 (Debian's alternatives: .../openblas-pthread/libblas.so.3, .../blis-openmp/...).
_OPTIMIZED = ("openblas", "blis", "mkl", "atlas", "armpl", "accelerate", "flexiblas")


def keep_freed_memory():
    """Serves every allocation from the heap and never hands freed heap memory back to the
    system. Without it glibc maps each block above its mmap threshold (at most 32 MiB) afresh and
    every first touch of its pages faults: a training step's logits (batch x items floats, 50 MB
    for 1,024 targets and 12,000 items) and their gradients cost page faults at every step
    (measured on one thread: exp of a 1,024 x 12,000 tensor 153 ms instead of 10 ms; an Amazon
    Toys epoch 134 s instead of 40 s). The price: the process keeps its peak memory. A no-op
    outside glibc."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def _defining_file(handle, symbol):
    """The file that defines `symbol` as `handle`'s lookup finds it, or None."""
    try:
        address = ctypes.cast(getattr(handle, symbol), ctypes.c_void_p).value
    except AttributeError:
        return None
    for lib in (None, ctypes.util.find_library("dl")):
        try:
            dladdr = ctypes.CDLL(lib).dladdr
            break
        except (OSError, AttributeError):
            continue
    else:
        return None
    dladdr.argtypes, dladdr.restype = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)], ctypes.c_int
    info = _DlInfo()
    if not dladdr(address, ctypes.byref(info)) or not info.dli_fname:
        return None
    return os.path.realpath(info.dli_fname.decode())


def blas_library():
    """The file that provides the `sgemm_` PyTorch's CPU matrix products call, as the dynamic
    linker resolves it for libtorch_cpu: the process's global scope first (LD_PRELOAD, libraries
    loaded RTLD_GLOBAL), then libtorch_cpu's own dependencies. None when PyTorch carries its own
    BLAS (MKL linked in) or calls none."""
    import torch
    if "BLAS_INFO=mkl" in torch.__config__.show():
        return None
    found = _defining_file(ctypes.CDLL(None), "sgemm_")
    if found:
        return found
    lib = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    if not os.path.exists(lib):  # Debian installs it in the system library directory
        maps = open("/proc/self/maps").read().split() if os.path.exists("/proc/self/maps") else []
        lib = next((p for p in maps if os.path.basename(p).startswith("libtorch_cpu.so")), None)
    if not lib:
        return None
    try:
        handle = ctypes.CDLL(lib, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    except OSError:
        return None
    return _defining_file(handle, "sgemm_")


def reference_blas_warning():
    """A one-line warning when PyTorch's matrix products run on the reference (netlib) BLAS, which
    makes training several times slower; else None. The reference BLAS is a libblas.so* that no
    optimized implementation's directory or file name claims (e.g. Debian's libblas3,
    /usr/lib/x86_64-linux-gnu/blas/libblas.so.3)."""
    path = blas_library()
    if path is None or not os.path.basename(path).startswith("libblas.so"):
        return None
    if any(name in path.lower() for name in _OPTIMIZED):
        return None
    return (f"warning: PyTorch runs its matrix products on the reference BLAS ({path}): training is "
            "several times slower; install an optimized one (Debian: libopenblas0-openmp, as "
            "tools/install-deps.sh does)")
