"""Build-time step: ``python -m app.warmup``.

With EMBEDDINGS=minilm it downloads Chroma's ONNX all-MiniLM-L6-v2 into MINILM_DIR
(inside the image) and runs it once, so the running service never downloads anything.
With any other mode it does nothing and exits 0 -- also offline, and without importing
chromadb, so it costs a build almost nothing.

It reads only EMBEDDINGS and MINILM_DIR: secrets such as OPENAI_API_KEY are usually
absent at build time and must not fail the build.
"""

from __future__ import annotations

import os
import sys
import time

from .settings import DEFAULT_MINILM_DIR


def main() -> int:
    mode = (os.environ.get("EMBEDDINGS") or "hash").strip().lower()
    if mode != "minilm":
        print(f"warmup: EMBEDDINGS={mode}: no model to pre-load")
        return 0
    model_dir = (os.environ.get("MINILM_DIR") or "").strip() or DEFAULT_MINILM_DIR
    from .embeddings import minilm, minilm_present  # imports chromadb: only on this path

    started = time.monotonic()
    present = minilm_present(model_dir)
    try:
        ef = minilm(model_dir)
        vectors = ef(["streamdeploy warmup"])  # downloads if missing, then loads the ONNX session
    except Exception as e:
        print(f"warmup: could not load all-MiniLM-L6-v2 into {model_dir}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if not minilm_present(model_dir):
        print(f"warmup: model files missing in {model_dir}/onnx after download", file=sys.stderr)
        return 1
    action = "found" if present else "downloaded"
    print(f"warmup: {action} all-MiniLM-L6-v2 in {model_dir} (dim {len(vectors[0])}, {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
