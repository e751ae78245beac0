"""A copy of a float32 model directory with its weights stored as F16 or BF16 (round to nearest
even), for bench/run_speed_bench.sh: gptrec runs every task on it too.

    make_half_copy.py MODEL_DIR OUT_DIR F16|BF16
"""
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from gptrec_tools import safetensors_io  # noqa: E402


def main():
    src, out, dtype = sys.argv[1], sys.argv[2], sys.argv[3].upper()
    if dtype not in ("F16", "BF16"):
        sys.exit("make_half_copy.py: the type must be F16 or BF16")
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("model.safetensors"))
    sd, meta = safetensors_io.load(os.path.join(src, "model.safetensors"))
    if dtype == "F16":
        sd = {k: v.astype(np.float16) for k, v in sd.items()}
        safetensors_io.save(os.path.join(tmp, "model.safetensors"), sd, meta)
    else:
        safetensors_io.save(os.path.join(tmp, "model.safetensors"), sd, meta, bf16=set(sd))
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
