#!/usr/bin/python3
"""torch_peer.py - the PyTorch peer of `build-native/bench step` (development only; nothing
in the product or the tests runs Python).

unet-s as DESIGN.md section 3 describes it, timed the same way as the C bench:
  train64  one training step at batch 64: DSM loss (weight s^2), backward, global-norm clip
           at 1, Adam, EMA 0.999
  sample64 one sampler step at batch 64 without gradients (a score evaluation + EM update)
  mlp128, cnn128  a classifier training step at batch 128 (the objective MLP and cnn-eval of
           DESIGN.md section 3): mean cross-entropy, backward, Adam, EMA 0.999 (the C bench's
           `cls` section)
Each figure is the median of --reps repeats after a warm-up.

  python3 bench/peer/torch_peer.py --threads 1 --reps 7
Needs Debian's python3-torch (1.13)."""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def gn(c):
    return nn.GroupNorm(8, c, eps=1e-5)


def zero(m):
    nn.init.zeros_(m.weight)
    nn.init.zeros_(m.bias)
    return m


class Res(nn.Module):
    def __init__(self, cin, cout, temb=128):
        super().__init__()
        self.n1, self.c1 = gn(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(temb, cout)
        self.n2, self.c2 = gn(cout), zero(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.t(F.silu(temb))[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class Attn(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n, self.qkv, self.o = gn(c), nn.Conv2d(c, 3 * c, 1), zero(nn.Conv2d(c, c, 1))
        self.c = c

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.n(x)).reshape(b, 3, c, h * w).unbind(1)
        a = torch.softmax(torch.einsum("bci,bcj->bij", q, k) / math.sqrt(c), dim=-1)
        return x + self.o(torch.einsum("bij,bcj->bci", a, v).reshape(b, c, h, w))


class UNetS(nn.Module):
    def __init__(self):
        super().__init__()
        self.t1, self.t2 = nn.Linear(32, 128), nn.Linear(128, 128)
        self.cin = nn.Conv2d(1, 32, 3, padding=1)
        self.d = nn.ModuleList([Res(32, 32), Res(32, 64), Res(64, 64)])
        self.down = nn.ModuleList([nn.Conv2d(32, 32, 3, 2, 1), nn.Conv2d(64, 64, 3, 2, 1)])
        self.m1, self.ma, self.m2 = Res(64, 64), Attn(64), Res(64, 64)
        self.u = nn.ModuleList([Res(128, 64), Res(128, 64), Res(128, 64), Res(96, 64),
                                Res(96, 32), Res(64, 32)])
        self.ups = nn.ModuleList([nn.Conv2d(64, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1)])
        self.nout, self.cout = gn(32), zero(nn.Conv2d(32, 1, 3, padding=1))

    def forward(self, x, t, s):
        f = 10000 ** (-torch.arange(16, dtype=x.dtype) / 16)
        e = 1000 * t[:, None] * f[None]
        temb = self.t2(F.silu(self.t1(torch.cat([e.cos(), e.sin()], 1))))
        h = self.cin(x)
        st = [h]
        h = self.d[0](h, temb); st.append(h)
        h = self.down[0](h); st.append(h)
        h = self.d[1](h, temb); st.append(h)
        h = self.down[1](h); st.append(h)
        h = self.d[2](h, temb); st.append(h)
        h = self.m2(self.ma(self.m1(h, temb)), temb)
        h = self.u[0](torch.cat([h, st.pop()], 1), temb)
        h = self.u[1](torch.cat([h, st.pop()], 1), temb)
        h = self.ups[0](F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.u[2](torch.cat([h, st.pop()], 1), temb)
        h = self.u[3](torch.cat([h, st.pop()], 1), temb)
        h = self.ups[1](F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.u[4](torch.cat([h, st.pop()], 1), temb)
        h = self.u[5](torch.cat([h, st.pop()], 1), temb)
        return self.cout(F.silu(self.nout(h))) / s[:, None, None, None]


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256),
                         nn.ReLU(), nn.Linear(256, 10))


def cnn_eval():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))


def classifier_step(net, B):
    x = torch.rand(B, 1, 28, 28)
    y = torch.arange(B) % 10
    ema = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, net.parameters()):
                e.mul_(0.999).add_(p, alpha=0.001)
    return step


def a_s(t):
    a = torch.exp(-0.25 * 19.9 * t * t - 0.05 * t)
    return a, torch.sqrt(-torch.expm1(2 * torch.log(a)))


def timed(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), min(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = UNetS()
    ema = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    B = args.batch
    x0 = torch.rand(B, 1, 28, 28)

    def train():
        t = torch.rand(B) * (1 - 1e-5) + 1e-5
        a, s = a_s(t)
        z = torch.randn_like(x0)
        xt = a[:, None, None, None] * x0 + s[:, None, None, None] * z
        loss = ((s[:, None, None, None] * net(xt, t, s) + z) ** 2).sum((1, 2, 3)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, net.parameters()):
                e.mul_(0.999).add_(p, alpha=0.001)

    xs = torch.randn(B, 1, 28, 28)

    def sample():
        with torch.no_grad():
            t = torch.full((B,), 0.5)
            _, s = a_s(t)
            beta = 0.1 + 0.5 * 19.9
            sc = net(xs, t, s)
            xs.add_((0.5 * beta * xs + beta * sc) * 0.002 + math.sqrt(beta * 0.002) * torch.randn_like(xs))

    n = sum(p.numel() for p in net.parameters())
    print(f"torch {torch.__version__}, {args.threads} threads, unet-s {n} parameters")
    for name, fn, nb in (("train%d" % B, train, B), ("sample%d" % B, sample, B),
                         ("mlp128", classifier_step(mlp(), 128), 128),
                         ("cnn128", classifier_step(cnn_eval(), 128), 128)):
        med, mn = timed(fn, args.reps)
        print(f"{name:10s} median {med * 1e3:9.1f} ms  min {mn * 1e3:9.1f} ms  {nb / med:7.1f} img/s")


if __name__ == "__main__":
    main()
