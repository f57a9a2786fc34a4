"""Benchmark: fp32 vs bf16 matrix multiply on this CPU — decides whether bf16 can pay off for training/inference.

PyTorch's fast bf16 CPU kernels need avx512_bf16 or AMX; without them a bf16 matmul takes a slow path.
Shapes are SmolLM2-135M's MLP projection for 512 tokens. Usage: python bench/cpu_matmul.py
"""

from __future__ import annotations

import time

import torch


def gflops(dtype: torch.dtype, m: int = 512, k: int = 576, n: int = 1536, repeat: int = 5) -> float:
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(n, k, dtype=dtype).t()  # (n, k).t(): as nn.Linear stores it
    torch.mm(a, b)
    start = time.perf_counter()
    for _ in range(repeat):
        torch.mm(a, b)
    return 2 * m * k * n * repeat / (time.perf_counter() - start) / 1e9


def main() -> None:
    from arccommon.precision import cpu_bf16_flags, decide_precision

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"bf16 flags: {'/'.join(cpu_bf16_flags()) or 'none'}; auto decides {decide_precision('cpu').line()}")
    f32, bf16 = gflops(torch.float32), gflops(torch.bfloat16)
    print(f"fp32 matmul {f32:6.1f} GFLOP/s; bf16 matmul {bf16:6.1f} GFLOP/s; bf16/fp32 = {bf16 / f32:.2f}")


if __name__ == "__main__":
    main()
