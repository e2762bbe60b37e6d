"""Check the `gpu` profile on a machine with an NVIDIA GPU: `atelier run --profile gpu
examples/gpu_check.py`. Reports what PyTorch sees and trains a small model a few steps on it.

PyTorch is not part of Atelier: install it in the project's environment first, e.g.
`atelier env add torch --project NAME`.
"""

from __future__ import annotations

import os
import sys
import time


def main() -> int:
    try:
        import torch
    except ImportError:
        print(
            "PyTorch is not installed in this environment: add it with "
            "`atelier env add torch --project NAME` and run again",
            file=sys.stderr,
        )
        return 2
    print(f"torch {torch.__version__}, CUDA build {torch.version.cuda}")
    print(f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}")
    available = torch.cuda.is_available()
    print(f"torch.cuda.is_available() = {available}")
    if not available:
        print("no GPU visible to this job", file=sys.stderr)
        return 1
    device = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name(device)} ({torch.cuda.device_count()} visible)")
    torch.manual_seed(0)
    inputs = torch.randn(4096, 256, device=device)
    target = (inputs[:, :8].sum(dim=1, keepdim=True) > 0).float()
    model = torch.nn.Sequential(
        torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 1)
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    start = time.perf_counter()
    for step in range(1, 201):
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), target)
        loss.backward()
        optimizer.step()
        if step % 50 == 0:
            print(f"step {step}: loss {loss.item():.4f}", flush=True)
    torch.cuda.synchronize()
    print(f"200 steps on {device} in {time.perf_counter() - start:.2f}s")
    print(f"parameters on: {next(model.parameters()).device}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
