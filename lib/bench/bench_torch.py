"""PyTorch baseline for `deno task bench`: the homework's SSD300 workload timed in PyTorch on the same CPU.

Re-expresses the reference model (VGG16 base, auxiliary and prediction convolutions) and its MultiBox loss
(IoU matching at 0.5, hard negatives 3:1, cross-entropy + L1) compactly, with random weights, and times
the network forward alone, inference (forward + detect_objects-style softmax/decode/NMS) and one SGD training step per image.

Usage: /usr/bin/python3 lib/bench/bench_torch.py --batch-size 4 --threads 2 [--quick]   (prints one JSON line)
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

N_CLASSES = 2
PERSON_LOGIT_SHIFT = 3.0  # as lib/bench.ts
CANDIDATES_PER_IMAGE = 200  # as lib/bench.ts BENCH_CANDIDATES_PER_IMAGE
MIN_SCORE = 0.01
FMAPS = [("conv4_3", 38, 0.1, [1.0, 2.0, 0.5]), ("conv7", 19, 0.2, [1.0, 2.0, 3.0, 0.5, 0.333]),
         ("conv8_2", 10, 0.375, [1.0, 2.0, 3.0, 0.5, 0.333]), ("conv9_2", 5, 0.55, [1.0, 2.0, 3.0, 0.5, 0.333]),
         ("conv10_2", 3, 0.725, [1.0, 2.0, 0.5]), ("conv11_2", 1, 0.9, [1.0, 2.0, 0.5])]


def priors_cxcy():
    boxes = []
    for k, (_, dim, scale, ratios) in enumerate(FMAPS):
        for i in range(dim):
            for j in range(dim):
                cx, cy = (j + 0.5) / dim, (i + 0.5) / dim
                for r in ratios:
                    boxes.append([cx, cy, scale * math.sqrt(r), scale / math.sqrt(r)])
                    if r == 1.0:
                        extra = math.sqrt(scale * FMAPS[k + 1][2]) if k + 1 < len(FMAPS) else 1.0
                        boxes.append([cx, cy, extra, extra])
    return torch.tensor(boxes).clamp_(0, 1)


class SSD300(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "C", 512, 512, 512]
        layers, c = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            elif v == "C":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
                c = v
        self.to_conv4_3 = nn.Sequential(*layers)
        self.to_conv7 = nn.Sequential(
            nn.MaxPool2d(2, 2), nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(512, 512, 3, padding=1),
            nn.ReLU(inplace=True), nn.MaxPool2d(3, 1, padding=1), nn.Conv2d(512, 1024, 3, padding=6, dilation=6),
            nn.ReLU(inplace=True), nn.Conv2d(1024, 1024, 1), nn.ReLU(inplace=True))
        self.rescale = nn.Parameter(torch.full((1, 512, 1, 1), 20.0))
        aux = [(1024, 256, 1, 1, 0), (256, 512, 3, 2, 1), (512, 128, 1, 1, 0), (128, 256, 3, 2, 1),
               (256, 128, 1, 1, 0), (128, 256, 3, 1, 0), (256, 128, 1, 1, 0), (128, 256, 3, 1, 0)]
        self.aux = nn.ModuleList(nn.Conv2d(i, o, k, stride=s, padding=p) for i, o, k, s, p in aux)
        chans, nbox = [512, 1024, 512, 256, 256, 256], [4, 6, 6, 6, 4, 4]
        self.loc = nn.ModuleList(nn.Conv2d(c, b * 4, 3, padding=1) for c, b in zip(chans, nbox))
        self.cl = nn.ModuleList(nn.Conv2d(c, b * n_classes, 3, padding=1) for c, b in zip(chans, nbox))
        self.n_classes = n_classes

    def forward(self, x):
        f4 = self.to_conv4_3(x)
        f7 = self.to_conv7(f4)
        f4 = f4 / f4.pow(2).sum(dim=1, keepdim=True).sqrt() * self.rescale
        feats, out = [f4, f7], f7
        for i, conv in enumerate(self.aux):
            out = F.relu(conv(out))
            if i % 2 == 1:
                feats.append(out)
        b = x.size(0)
        locs = torch.cat([l(f).permute(0, 2, 3, 1).reshape(b, -1, 4) for l, f in zip(self.loc, feats)], 1)
        scores = torch.cat([c(f).permute(0, 2, 3, 1).reshape(b, -1, self.n_classes) for c, f in zip(self.cl, feats)], 1)
        return locs, scores


def xy_from_cxcy(c):
    return torch.cat([c[:, :2] - c[:, 2:] / 2, c[:, :2] + c[:, 2:] / 2], 1)


def iou(a, b):
    lo = torch.max(a[:, None, :2], b[None, :, :2])
    hi = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (hi - lo).clamp(min=0).prod(2)
    area = lambda s: (s[:, 2] - s[:, 0]) * (s[:, 3] - s[:, 1])
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def multibox_loss(locs, scores, boxes, priors):
    pxy = xy_from_cxcy(priors)
    b, n = locs.shape[:2]
    tl, tc = torch.zeros(b, n, 4), torch.zeros(b, n, dtype=torch.long)
    for i in range(b):
        ov = iou(boxes[i], pxy)
        best_ov, best_obj = ov.max(0)
        _, best_prior = ov.max(1)
        best_obj[best_prior] = torch.arange(len(boxes[i]))
        best_ov[best_prior] = 1.0
        lab = torch.ones(n, dtype=torch.long)
        lab[best_ov < 0.5] = 0
        tc[i] = lab
        m = boxes[i][best_obj]
        cxcy = torch.cat([(m[:, 2:] + m[:, :2]) / 2, m[:, 2:] - m[:, :2]], 1)
        tl[i] = torch.cat([(cxcy[:, :2] - priors[:, :2]) / (priors[:, 2:] / 10),
                           torch.log(cxcy[:, 2:] / priors[:, 2:]) * 5], 1)
    pos = tc != 0
    loc_loss = F.l1_loss(locs[pos], tl[pos])
    ce = F.cross_entropy(scores.reshape(-1, scores.size(2)), tc.reshape(-1), reduction="none").view(b, n)
    neg = ce.clone()
    neg[pos] = 0
    neg, _ = neg.sort(1, descending=True)
    hard = torch.arange(n)[None, :] < 3 * pos.sum(1, keepdim=True)
    return (neg[hard].sum() + ce[pos].sum()) / pos.sum().float() + loc_loss


def detect(locs, scores, priors, min_score=MIN_SCORE, max_overlap=0.45, top_k=200):
    probs = F.softmax(scores, 2)
    out = []
    for i in range(locs.size(0)):
        c = torch.cat([locs[i, :, :2] * priors[:, 2:] / 10 + priors[:, :2], torch.exp(locs[i, :, 2:] / 5) * priors[:, 2:]], 1)
        xy = xy_from_cxcy(c)
        s = probs[i, :, 1]
        keep = s > min_score
        s, order = s[keep].sort(descending=True)
        bx = xy[keep][order]
        ov = iou(bx, bx)
        sup = torch.zeros(len(s), dtype=torch.bool)
        for j in range(len(s)):
            if not sup[j]:
                sup |= ov[j] > max_overlap
                sup[j] = False
        out.append((bx[~sup][:top_k], s[~sup][:top_k]))
    return out


def median_ms(fn, reps):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = SSD300(N_CLASSES)
    # A trained detector calls most priors background; random heads would score every prior near 0.5 and turn
    # detection into an 8732-box NMS. Bias the person logit down so detection sees a realistic candidate count.
    with torch.no_grad():
        for cl in model.cl:
            cl.bias.view(-1, N_CLASSES)[:, 1] -= PERSON_LOGIT_SHIFT
    priors = priors_cxcy()
    b = args.batch_size
    x = torch.randn(b, 3, 300, 300)
    g = torch.Generator().manual_seed(1)
    boxes = []
    for _ in range(b):
        lo = torch.rand(3, 2, generator=g) * 0.5
        boxes.append(torch.cat([lo, lo + 0.1 + torch.rand(3, 2, generator=g) * 0.4], 1))
    reps = 2 if args.quick else 5

    # Calibrate as lib/bench/workload.ts does: shift the person logits so that CANDIDATES_PER_IMAGE priors per image score
    # above MIN_SCORE, whatever the random weights give, so that both detection steps do the same NMS work.
    model.eval()
    with torch.no_grad():
        _, scores = model(x)
        margins = (scores[..., 1] - scores[..., 0]).flatten().sort(descending=True).values
        k = CANDIDATES_PER_IMAGE * b
        extra = float((margins[k - 1] + margins[k]) / 2) - math.log(MIN_SCORE / (1 - MIN_SCORE))
        for cl in model.cl:
            cl.bias.view(-1, N_CLASSES)[:, 1] -= extra

    model.eval()

    def infer():
        with torch.no_grad():
            return detect(*model(x), priors)

    n_detections = sum(len(s) for _, s in infer())

    def forward():
        with torch.no_grad():
            return model(x)

    forward()
    fwd = median_ms(forward, reps)
    infer()
    inf = median_ms(infer, reps)

    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def step():
        opt.zero_grad()
        loss = multibox_loss(*model(x), boxes, priors)
        loss.backward()
        opt.step()

    step()
    tr = median_ms(step, reps)
    print(json.dumps({"torch_version": torch.__version__, "threads": args.threads, "batch_size": b,
                      "forward_ms_per_image": fwd / b, "inference_ms_per_image": inf / b,
                      "training_ms_per_image": tr / b,
                      "detections_per_image": n_detections / b,
                      "candidates_per_image": CANDIDATES_PER_IMAGE}))


if __name__ == "__main__":
    main()
