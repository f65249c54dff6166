"""all-MiniLM-L6-v2 in ONNX Runtime with int8 weights: about twice torch's throughput on these CPUs and a
query in a few milliseconds, at cosine >= 0.99 to the torch vectors (eval/bench.py measures both).

The model is exported here, from the bundled package's weights, the first time it is needed: the
transformer traced to ONNX with torch, its graph prepared by ONNX Runtime's pre-processing, and the
weights of every MatMul quantized to int8 per output channel (dynamic quantization: activations are
quantized on the fly). Per-channel scales matter: per-tensor int8 kept only cosine ~0.94 to the torch
vectors, per-channel keeps >= 0.99. Nothing is downloaded. Pooling (the mean over real tokens) and
normalisation are done here in numpy, as sentence-transformers does them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.vectors.embedder import DEFAULT_MODEL, bundled_model_path

log = logging.getLogger(__name__)

BACKEND = "onnx-int8"
MODEL_FILE = "model_int8.onnx"
INFO_FILE = "export.json"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model (sentence_bert_config.json)
EXPORT_VERSION = 1  # bump when the export recipe changes, so old exports are redone


def _source_fingerprint(source: Path) -> dict[str, object]:
    """What the export was made from: the weights (by size and a hash of their first 4 MB: the same
    package installed in several environments shares one export) and the exporter's versions."""
    import onnxruntime

    weights = source / "model.safetensors"
    with weights.open("rb") as fh:
        head = hashlib.sha256(fh.read(4 << 20)).hexdigest()
    return {
        "size": weights.stat().st_size,
        "head_sha256": head,
        "export": EXPORT_VERSION,
        "onnxruntime": onnxruntime.__version__,
    }


def export_int8(source: Path, dest: Path) -> Path:
    """The int8 ONNX model of `source` (a sentence-transformers folder) in `dest`, exported if missing or
    stale. Safe when several processes ask at once (a file lock); returns the model folder."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    wanted = _source_fingerprint(source)
    with (dest.parent / f".{dest.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if json.loads((dest / INFO_FILE).read_text()) == wanted and (dest / MODEL_FILE).exists():
                return dest
        except (OSError, ValueError):
            pass
        log.warning("exporting %s to ONNX int8 in %s (once)", source, dest)
        tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        _export(source, tmp)
        (tmp / INFO_FILE).write_text(json.dumps(wanted))
        shutil.rmtree(dest, ignore_errors=True)
        os.rename(tmp, dest)
    return dest


def _export(source: Path, folder: Path) -> None:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(source), local_files_only=True).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    example = torch.ones((2, 8), dtype=torch.int64)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
    fp32, prepared = folder / "model.onnx", folder / "model_prepared.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on the model's Python control flow
        torch.onnx.export(
            LastHiddenState(model),
            (example, example, torch.zeros_like(example)),
            str(fp32),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
    quantize_dynamic(
        str(prepared),
        str(folder / MODEL_FILE),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
    )
    shutil.copy(source / "tokenizer.json", folder / "tokenizer.json")
    fp32.unlink()
    prepared.unlink()


class OnnxEmbedder:
    """The int8 ONNX model on the CPU. Thread-safe: ONNX Runtime sessions may run concurrently."""

    backend = BACKEND

    def __init__(
        self, model_dir: Path, source: Path | None = None, batch_size: int = 16, threads: int | None = None
    ):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        source = source or bundled_model_path()
        folder = export_int8(source, model_dir / f"{source.name}-{BACKEND}")
        self.model_name = DEFAULT_MODEL if source == bundled_model_path() else str(source)
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(
            str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.dim = int(self._encode(["dimension probe"]).shape[1])

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.asarray([e.type_ids for e in encodings], dtype=np.int64)
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[
            0
        ]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """One passage at a time: dynamic quantization scales activations per batch, so in a batch a
        passage's vector would depend on its batch-mates; alone it is the same in every run, and an
        unpadded sequence does no wasted work (measured: no slower than batches of 16 here)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._encode([text])[0]
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([text])[0]
