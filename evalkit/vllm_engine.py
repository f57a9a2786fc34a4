"""The vLLM engine of ``evalkit run --engine vllm``: one server for the whole evaluation (every shard of a launch
sends its requests to the server the first process starts, and the engine batches them), every adapter a LoRA in it.

The first process starts the server (or connects to ``--vllm-url``) and writes its address to
``OUT/vllm-server.json``; the others read it after a barrier. The server evalkit started is stopped when the
evaluation ends, also on an error or Ctrl-C; a server given by URL is left running.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Iterator

from arccommon.files import atomic_write_text, read_json
from arccommon.precision import decide_precision
from evalkit.request import EvalRequest
from evalkit.model import load_tokenizer
from evalkit.shards import Shard
from evalkit.vllm_predictor import VLLMPredictor
from evalkit.vllm_server import VLLMServer

ADDRESS_FILE = "vllm-server.json"
LOG_FILE = "vllm-server.log"


def lora_rank(adapters: list[Path]) -> int:
    """The largest LoRA rank among ``adapters`` (the server's --max-lora-rank)."""
    return max((int(read_json(a / "adapter_config.json").get("r", 8)) for a in adapters), default=0)


@contextlib.contextmanager
def vllm_predictor(request: EvalRequest, base: str, adapter: Path | None, found: dict[str, Path],
                   sample: Path | None, device: str, max_new: int, out: Path,
                   shard: Shard) -> Iterator[tuple[VLLMPredictor, None]]:
    """(a VLLMPredictor on one server for all shards, no switch): the caller evaluates inside the block."""
    server = None
    try:
        if shard.is_main:
            if request.vllm_url:
                server = VLLMServer.connect(request.vllm_url)
            else:
                precision = decide_precision(device, request.dtype)
                log = out / LOG_FILE
                print(f"vLLM: starting its server ({precision.dtype}; log {log})", file=sys.stderr, flush=True)
                server = VLLMServer.start(base, precision.dtype, log,
                                          max_lora_rank=lora_rank([*found.values(), *([adapter] if adapter else [])]),
                                          port=request.vllm_port, extra_args=request.vllm_args)
            atomic_write_text(out / ADDRESS_FILE, json.dumps({"url": server.url}) + "\n")
        shard.barrier()
        client = server or VLLMServer.connect(read_json(out / ADDRESS_FILE)["url"])
        predictor = VLLMPredictor(client, load_tokenizer(base, adapter or sample), found, adapter, max_new)
        try:
            yield predictor, None
        finally:
            predictor.close()
    finally:
        if server is not None:
            server.stop()
