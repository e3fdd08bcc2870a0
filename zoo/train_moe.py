"""Train the tiny MoE language model shipped in ``zoo/assets`` (seeded, CPU or GPU).

    python -m paretoforge.zoo.train_moe                       # writes zoo/assets/tiny_moe.safetensors
    python -m paretoforge.zoo.train_moe --steps 200 --out /tmp/m.safetensors --device cuda

Data: the search split of the stdlib corpus (:func:`paretoforge.zoo.corpus_split`, seed 0) as
UTF-8 bytes; the loss on the ``calib`` rows (half of the held-out split) is printed as it
trains. Batches are drawn with a seeded ``torch.Generator``; the model is initialised under
a forked, seeded global generator, so the global RNG state is untouched.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch.nn import functional as F

from .corpus import corpus_split
from .tiny_moe import ASSET, MoEConfig, TinyMoELM, encode_bytes, save_tiny_moe

__all__ = ["train"]


def train(steps: int = 1500, batch: int = 32, lr: float = 3e-3, aux_weight: float = 0.01, seed: int = 0,
          device: str = "cpu", cfg: MoEConfig | None = None, log_every: int = 100) -> TinyMoELM:
    cfg = cfg or MoEConfig()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TinyMoELM(cfg)
    model.to(device).train()
    rows = encode_bytes(corpus_split(0)["search"], cfg.context)
    from .tiny_moe import lm_rows

    val = lm_rows("calib", cfg.context)[:64].to(device)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    t0 = time.perf_counter()
    for step in range(steps):
        frac = step / max(1, steps - 1)
        for g in opt.param_groups:  # linear warm-up then cosine decay
            g["lr"] = lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * frac))
        xb = rows[torch.randint(len(rows), (batch,), generator=gen)].to(device)
        logits, aux = model(xb[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, cfg.vocab), xb[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        (loss + aux_weight * aux).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if log_every and (step % log_every == 0 or step == steps - 1):
            model.eval()
            with torch.inference_mode():
                vl = F.cross_entropy(model(val[:, :-1])[0].reshape(-1, cfg.vocab), val[:, 1:].reshape(-1)).item()
            model.train()
            print(f"step {step:5d}  loss {loss.item():.4f}  calib loss {vl:.4f}  aux {aux.item():.3f}  "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    return model.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description="Train the tiny MoE LM on the stdlib corpus.")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(ASSET))
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (1 is fastest for this tiny model)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = train(args.steps, args.batch, args.lr, seed=args.seed, device=args.device)
    print(f"wrote {save_tiny_moe(model.cpu(), args.out)}")


if __name__ == "__main__":
    main()
