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
  --cmad   instead: the C bench's `cmad` section, with randomly initialised nets as there:
  cmad_n2_b16_k25, cmad_n3_b8_k25  one joint BPTT iteration of CMAD (DESIGN.md section 4):
           the K-step controlled rollout of N agents sharing one frozen unet-s, ctrl-s
           controls fed [X, Y, G] with the guidance G from detached Tweedie estimates, energy,
           running cost through the score net, terminal CE + seam of the frozen MLP; backward,
           per-agent clip at 1, Adam
  cdps_n2_b64  one CDPS parity step (gamma 100) of two agents at batch 64
Each figure is the median of --reps repeats after a warm-up; the cmad section also prints
the peak RSS of the process so far (ru_maxrss).

  python3 bench/peer/torch_peer.py --threads 1 --reps 7
  python3 bench/peer/torch_peer.py --threads 2 --reps 3 --cmad
Needs Debian's python3-torch (1.13)."""
import argparse
import math
import resource
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


class CtrlS(nn.Module):
    """ctrl-s of DESIGN.md section 3: inputs [own state, aggregate, guidance], 159,985 parameters."""

    def __init__(self):
        super().__init__()
        self.t1, self.t2 = nn.Linear(16, 64), nn.Linear(64, 64)
        self.cin = nn.Conv2d(3, 16, 3, padding=1)
        self.d0, self.down, self.d1 = Res(16, 16, 64), nn.Conv2d(16, 16, 3, 2, 1), Res(16, 32, 64)
        self.m1, self.m2 = Res(32, 32, 64), Res(32, 32, 64)
        self.u = nn.ModuleList([Res(64, 32, 64), Res(48, 32, 64), Res(48, 16, 64), Res(32, 16, 64)])
        self.up = nn.Conv2d(32, 32, 3, padding=1)
        self.nout, self.cout = gn(16), zero(nn.Conv2d(16, 1, 3, padding=1))

    def forward(self, x, t):
        f = 10000 ** (-torch.arange(8, dtype=x.dtype) / 8)
        e = 1000 * t[:, None] * f[None]
        temb = self.t2(F.silu(self.t1(torch.cat([e.cos(), e.sin()], 1))))
        h = self.cin(x)
        st = [h]
        h = self.d0(h, temb); st.append(h)
        h = self.down(h); st.append(h)
        h = self.d1(h, temb); st.append(h)
        h = self.m2(self.m1(h, temb), temb)
        h = self.u[0](torch.cat([h, st.pop()], 1), temb)
        h = self.u[1](torch.cat([h, st.pop()], 1), temb)
        h = self.up(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.u[2](torch.cat([h, st.pop()], 1), temb)
        h = self.u[3](torch.cat([h, st.pop()], 1), temb)
        return self.cout(F.silu(self.nout(h)))


def bands(n):
    """Row ranges of the split aggregator: H // N rows each, the first H mod N one taller."""
    r, lo = [], 0
    for i in range(n):
        hi = lo + 28 // n + (1 if i < 28 % n else 0)
        r.append((lo, hi))
        lo = hi
    return r


def phi(xs):
    return torch.cat([x[:, :, lo:hi] for x, (lo, hi) in zip(xs, bands(len(xs)))], 2)


def charb(x):
    return torch.sqrt(x * x + 1e-6)


def task_loss(cls, y, c, agents, per_sample=False):
    """l(Y; c) = CE(classifier(Y), c) + Seam(Y) on the bands of `agents`, batch mean (or per sample)."""
    ce = F.cross_entropy(cls(y), c, reduction="none")
    seam = torch.zeros_like(ce)
    n = y.shape[2]
    for a in [hi - 1 for _, hi in bands(agents)[:-1]]:
        b = a + 1
        seam = seam + charb(y[:, 0, a] - y[:, 0, b]).mean(1)
        if a >= 1 and b + 1 < n:
            seam = seam + 0.05 * charb((y[:, 0, a] - y[:, 0, a - 1]) - (y[:, 0, b + 1] - y[:, 0, b])).mean(1)
    l = ce + seam
    return l if per_sample else l.mean()


def cmad_iteration(N, B, K, lam=1.0, rho=1.0):
    score = UNetS().requires_grad_(False)
    cls = mlp().requires_grad_(False)
    ctrls = [CtrlS() for _ in range(N)]
    opts = [torch.optim.Adam(u.parameters(), lr=1e-4) for u in ctrls]
    c = torch.arange(B) % 10
    grid = torch.linspace(1, 1e-3, K)
    dt = (1 - 1e-3) / (K - 1)

    def step():
        gen = torch.Generator().manual_seed(11)
        xs = [torch.randn(B, 1, 28, 28, generator=gen) * a_s(torch.tensor(1.0))[1] for _ in range(N)]
        energy = run = 0.0
        for k in range(K - 1):
            t = torch.full((B,), float(grid[k]))
            a, s = a_s(t)
            a4, s4 = a[:, None, None, None], s[:, None, None, None]
            beta = 0.1 + t[:, None, None, None] * 19.9
            g = beta.sqrt()
            sc = [score(x, t, s) for x in xs]
            x0 = [(x + s4 * s4 * q) / a4 for x, q in zip(xs, sc)]
            y = phi(xs)
            with torch.enable_grad():
                d = [z.detach().requires_grad_(True) for z in x0]
                G = torch.autograd.grad(task_loss(cls, phi(d), c, N, per_sample=True).sum(), d)
            us = [u(torch.cat([x, y, gi], 1), t) for u, x, gi in zip(ctrls, xs, G)]
            energy = energy + dt * sum((u * u).mean() for u in us) / N
            run = run + dt * task_loss(cls, phi(x0), c, N)
            xs = [x + (0.5 * beta * x + beta * q + g * u) * dt
                  + g * math.sqrt(dt) * torch.randn(x.shape, generator=gen)
                  for x, q, u in zip(xs, sc, us)]
        J = lam * energy + task_loss(cls, phi(xs), c, N) + rho * run
        for o in opts:
            o.zero_grad(set_to_none=True)
        J.backward()
        for u, o in zip(ctrls, opts):
            torch.nn.utils.clip_grad_norm_(u.parameters(), 1.0)
            o.step()
    return step


def cdps_step(B, gamma=100.0):
    score = UNetS().requires_grad_(False)
    cls = mlp().requires_grad_(False)
    c = torch.arange(B) % 10
    xs = [torch.randn(B, 1, 28, 28) for _ in range(2)]
    dt = (1 - 1e-3) / 499

    def step():
        t = torch.full((B,), 0.5)
        a, s = a_s(t)
        a4, s4 = a[:, None, None, None], s[:, None, None, None]
        beta = 0.1 + 0.5 * 19.9
        g = math.sqrt(beta)
        xg = [x.detach().requires_grad_(True) for x in xs]
        sc = [score(x, t, s) for x in xg]
        x0 = [(x + s4 * s4 * q) / a4 for x, q in zip(xg, sc)]
        grads = torch.autograd.grad(task_loss(cls, phi(x0), c, 2), xg)
        with torch.no_grad():
            for i in range(2):
                xs[i] = xs[i] + (0.5 * beta * xs[i] + beta * sc[i] - beta * gamma * grads[i]) * dt \
                    + g * math.sqrt(dt) * torch.randn_like(xs[i])
    return step


def main_cmad(args):
    n = sum(p.numel() for p in CtrlS().parameters())
    print(f"torch {torch.__version__}, {args.threads} threads, ctrl-s {n} parameters")
    for name, fn in (("cmad_n2_b16_k25", cmad_iteration(2, 16, 25)),
                     ("cmad_n3_b8_k25", cmad_iteration(3, 8, 25)),
                     ("cdps_n2_b64", cdps_step(64))):
        med, mn = timed(fn, args.reps)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{name:16s} median {med * 1e3:9.1f} ms  min {mn * 1e3:9.1f} ms  peak RSS so far {rss:7.0f} MB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--cmad", action="store_true", help="the BPTT and CDPS workloads instead")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.cmad:
        main_cmad(args)
        return
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
