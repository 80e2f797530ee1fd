"""The homework notebook's own training loop, timed per epoch, for `deno task bench --epoch`.

Re-expresses the loop of ../shared/reference/homework-ssd-pennfudan.ipynb.txt (its SSD300 with the same parameter
names, PedestrianSet with boxes from the masks, DataLoader(batch_size, num_workers=8, shuffle=True, collate),
MultiBoxLoss, SGD(lr 1e-3, momentum 0.9) with per-step CosineAnnealingLR, and `perform_epoch`: a training pass that
also runs detect_objects(min_score 0.5, max_overlap 0.5, top_k 10) on every batch and the notebook's AP@0.75, then
an evaluation pass) over the images and start weights `deno task bench --epoch` gives it, so both sides train the
same images from the same weights with the same batch and threads.

Differences from the notebook, all outside what is timed or neutral to it: the images come as explicit lists
(the bench's train / validation split) instead of the pre-split folders; the evaluation pass runs on those
validation images (our `finetune`'s held-out part of the train split) instead of the test folder; the AP function
returns 0 where the notebook's raises on an epoch without a single detection; with --augment the dataset applies
the classic SSD augmentation (photometric distortion, zoom-out, IoU crop, flip: the recipe of lib/data/augment.ts)
before the notebook's Resize + ToTensor, in the DataLoader's workers.

Usage: /usr/bin/python3 lib/bench/epoch_torch.py --split split.json --zip PennFudanPed.zip --start start.pth
         [--epochs 2] [--batch-size 10] [--threads 2] [--loader-workers 8] [--augment]
Prints one JSON line: per epoch the wall seconds and where they went.
"""
import argparse
import json
import math
import os
import random
import tempfile
import time
import zipfile

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image
from torch import nn
from torchvision import transforms

device = torch.device("cpu")


class VGGBase(nn.Module):
    def __init__(self):
        super().__init__()
        chans = [("conv1_1", 3, 64), ("conv1_2", 64, 64), ("conv2_1", 64, 128), ("conv2_2", 128, 128),
                 ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), ("conv4_1", 256, 512),
                 ("conv4_2", 512, 512), ("conv4_3", 512, 512), ("conv5_1", 512, 512), ("conv5_2", 512, 512),
                 ("conv5_3", 512, 512)]
        for name, i, o in chans:
            setattr(self, name, nn.Conv2d(i, o, kernel_size=3, padding=1))
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.pool3 = nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)
        self.pool5 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.conv6 = nn.Conv2d(512, 1024, kernel_size=3, padding=6, dilation=6)
        self.conv7 = nn.Conv2d(1024, 1024, kernel_size=1)

    def forward(self, image):
        out = F.relu(self.conv1_2(F.relu(self.conv1_1(image))))
        out = self.pool(out)
        out = F.relu(self.conv2_2(F.relu(self.conv2_1(out))))
        out = self.pool(out)
        out = F.relu(self.conv3_3(F.relu(self.conv3_2(F.relu(self.conv3_1(out))))))
        out = self.pool3(out)
        out = F.relu(self.conv4_3(F.relu(self.conv4_2(F.relu(self.conv4_1(out))))))
        conv4_3_feats = out
        out = self.pool(out)
        out = F.relu(self.conv5_3(F.relu(self.conv5_2(F.relu(self.conv5_1(out))))))
        out = self.pool5(out)
        out = F.relu(self.conv6(out))
        return conv4_3_feats, F.relu(self.conv7(out))


class AuxiliaryConvolutions(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv8_1 = nn.Conv2d(1024, 256, kernel_size=1, padding=0)
        self.conv8_2 = nn.Conv2d(256, 512, kernel_size=3, stride=2, padding=1)
        self.conv9_1 = nn.Conv2d(512, 128, kernel_size=1, padding=0)
        self.conv9_2 = nn.Conv2d(128, 256, kernel_size=3, stride=2, padding=1)
        self.conv10_1 = nn.Conv2d(256, 128, kernel_size=1, padding=0)
        self.conv10_2 = nn.Conv2d(128, 256, kernel_size=3, padding=0)
        self.conv11_1 = nn.Conv2d(256, 128, kernel_size=1, padding=0)
        self.conv11_2 = nn.Conv2d(128, 256, kernel_size=3, padding=0)

    def forward(self, x):
        feats = []
        for a, b in [("conv8_1", "conv8_2"), ("conv9_1", "conv9_2"), ("conv10_1", "conv10_2"),
                     ("conv11_1", "conv11_2")]:
            x = F.relu(getattr(self, b)(F.relu(getattr(self, a)(x))))
            feats.append(x)
        return feats


FMAPS = ["conv4_3", "conv7", "conv8_2", "conv9_2", "conv10_2", "conv11_2"]
N_BOXES = {"conv4_3": 4, "conv7": 6, "conv8_2": 6, "conv9_2": 6, "conv10_2": 4, "conv11_2": 4}
CHANNELS = {"conv4_3": 512, "conv7": 1024, "conv8_2": 512, "conv9_2": 256, "conv10_2": 256, "conv11_2": 256}


class PredictionConvolutions(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.n_classes = n_classes
        for m in FMAPS:
            setattr(self, f"loc_{m}", nn.Conv2d(CHANNELS[m], N_BOXES[m] * 4, kernel_size=3, padding=1))
        for m in FMAPS:
            setattr(self, f"cl_{m}", nn.Conv2d(CHANNELS[m], N_BOXES[m] * n_classes, kernel_size=3, padding=1))

    def forward(self, *feats):
        b = feats[0].size(0)
        locs = [getattr(self, f"loc_{m}")(f).permute(0, 2, 3, 1).contiguous().view(b, -1, 4)
                for m, f in zip(FMAPS, feats)]
        cls = [getattr(self, f"cl_{m}")(f).permute(0, 2, 3, 1).contiguous().view(b, -1, self.n_classes)
               for m, f in zip(FMAPS, feats)]
        return torch.cat(locs, dim=1), torch.cat(cls, dim=1)


def create_prior_boxes():
    dims = {"conv4_3": 38, "conv7": 19, "conv8_2": 10, "conv9_2": 5, "conv10_2": 3, "conv11_2": 1}
    scales = {"conv4_3": 0.1, "conv7": 0.2, "conv8_2": 0.375, "conv9_2": 0.55, "conv10_2": 0.725, "conv11_2": 0.9}
    ratios = {"conv4_3": [1., 2., 0.5], "conv7": [1., 2., 3., 0.5, .333], "conv8_2": [1., 2., 3., 0.5, .333],
              "conv9_2": [1., 2., 3., 0.5, .333], "conv10_2": [1., 2., 0.5], "conv11_2": [1., 2., 0.5]}
    boxes = []
    for k, m in enumerate(FMAPS):
        for i in range(dims[m]):
            for j in range(dims[m]):
                cx, cy = (j + 0.5) / dims[m], (i + 0.5) / dims[m]
                for r in ratios[m]:
                    boxes.append([cx, cy, scales[m] * math.sqrt(r), scales[m] / math.sqrt(r)])
                    if r == 1.:
                        extra = math.sqrt(scales[m] * scales[FMAPS[k + 1]]) if k + 1 < len(FMAPS) else 1.
                        boxes.append([cx, cy, extra, extra])
    return torch.FloatTensor(boxes).to(device).clamp_(0, 1)


def cxcy_to_xy(c):
    return torch.cat([c[:, :2] - (c[:, 2:] / 2), c[:, :2] + (c[:, 2:] / 2)], 1)


def cxcy_to_gcxgcy(c, p):
    return torch.cat([(c[:, :2] - p[:, :2]) / (p[:, 2:] / 10), torch.log(c[:, 2:] / p[:, 2:]) * 5], 1)


def gcxgcy_to_cxcy(g, p):
    return torch.cat([g[:, :2] * p[:, 2:] / 10 + p[:, :2], torch.exp(g[:, 2:] / 5) * p[:, 2:]], 1)


def xy_to_cxcy(xy):
    return torch.cat([(xy[:, 2:] + xy[:, :2]) / 2, xy[:, 2:] - xy[:, :2]], 1)


def find_jaccard_overlap(a, b):
    lo = torch.max(a[:, :2].unsqueeze(1), b[:, :2].unsqueeze(0))
    hi = torch.min(a[:, 2:].unsqueeze(1), b[:, 2:].unsqueeze(0))
    inter = torch.clamp(hi - lo, min=0)
    inter = inter[:, :, 0] * inter[:, :, 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a.unsqueeze(1) + area_b.unsqueeze(0) - inter)


class SSD300(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.n_classes = n_classes
        self.base = VGGBase()
        self.aux_convs = AuxiliaryConvolutions()
        self.pred_convs = PredictionConvolutions(n_classes)
        self.priors_cxcy = create_prior_boxes()
        self.rescale_factors = nn.Parameter(torch.FloatTensor(1, 512, 1, 1))
        nn.init.constant_(self.rescale_factors, 20)

    def forward(self, image):
        conv4_3, conv7 = self.base(image)
        norm = conv4_3.pow(2).sum(dim=1, keepdim=True).sqrt()
        conv4_3 = conv4_3 / norm * self.rescale_factors
        return self.pred_convs(conv4_3, conv7, *self.aux_convs(conv7))

    def detect_objects(self, locs, scores, min_score, max_overlap, top_k):
        scores = F.softmax(scores, dim=2)
        all_boxes, all_labels, all_scores = [], [], []
        for i in range(locs.size(0)):
            decoded = cxcy_to_xy(gcxgcy_to_cxcy(locs[i], self.priors_cxcy))
            image_boxes, image_labels, image_scores = [], [], []
            for c in range(1, self.n_classes):
                class_scores = scores[i][:, c]
                above = class_scores > min_score
                n_above = above.sum().item()
                if n_above == 0:
                    continue
                class_scores, order = class_scores[above].sort(dim=0, descending=True)
                class_locs = decoded[above][order]
                overlap = find_jaccard_overlap(class_locs, class_locs)
                suppress = torch.zeros((n_above), dtype=torch.uint8).to(device)
                for box in range(class_locs.size(0)):  # the notebook's NMS loop
                    if suppress[box] == 1:
                        continue
                    suppress = suppress | (overlap[box] > max_overlap)
                    suppress[box] = 0
                keep = (1 - suppress).bool()
                image_boxes.append(class_locs[keep])
                image_labels.append(torch.LongTensor(int(keep.sum().item()) * [c]).to(device))
                image_scores.append(class_scores[keep])
            if not image_boxes:
                image_boxes.append(torch.FloatTensor([[0., 0., 1., 1.]]).to(device))
                image_labels.append(torch.LongTensor([0]).to(device))
                image_scores.append(torch.FloatTensor([0.]).to(device))
            image_boxes, image_labels = torch.cat(image_boxes), torch.cat(image_labels)
            image_scores = torch.cat(image_scores)
            if image_scores.size(0) > top_k:
                image_scores, order = image_scores.sort(dim=0, descending=True)
                image_scores, image_boxes, image_labels = image_scores[:top_k], image_boxes[order][:top_k], \
                    image_labels[order][:top_k]
            all_boxes.append(image_boxes)
            all_labels.append(image_labels)
            all_scores.append(image_scores)
        return all_boxes, all_labels, all_scores


class MultiBoxLoss(nn.Module):
    def __init__(self, priors_cxcy, threshold=0.5, neg_pos_ratio=3, alpha=1.):
        super().__init__()
        self.priors_cxcy, self.priors_xy = priors_cxcy, cxcy_to_xy(priors_cxcy)
        self.threshold, self.neg_pos_ratio, self.alpha = threshold, neg_pos_ratio, alpha
        self.smooth_l1 = nn.L1Loss()
        self.cross_entropy = nn.CrossEntropyLoss(reduction="none")

    def forward(self, locs, scores, boxes, labels):
        b, n_priors, n_classes = locs.size(0), self.priors_cxcy.size(0), scores.size(2)
        true_locs = torch.zeros((b, n_priors, 4), dtype=torch.float).to(device)
        true_classes = torch.zeros((b, n_priors), dtype=torch.long).to(device)
        for i in range(b):
            overlap = find_jaccard_overlap(boxes[i], self.priors_xy)
            overlap_for_each_prior, object_for_each_prior = overlap.max(dim=0)
            _, prior_for_each_object = overlap.max(dim=1)
            object_for_each_prior[prior_for_each_object] = torch.LongTensor(range(boxes[i].size(0))).to(device)
            overlap_for_each_prior[prior_for_each_object] = 1.
            label = labels[i][object_for_each_prior]
            label[overlap_for_each_prior < self.threshold] = 0
            true_classes[i] = label
            true_locs[i] = cxcy_to_gcxgcy(xy_to_cxcy(boxes[i][object_for_each_prior]), self.priors_cxcy)
        positive = true_classes != 0
        loc_loss = self.smooth_l1(locs[positive], true_locs[positive])
        n_positives = positive.sum(dim=1)
        conf_all = self.cross_entropy(scores.view(-1, n_classes), true_classes.view(-1)).view(b, n_priors)
        conf_pos = conf_all[positive]
        conf_neg = conf_all.clone()
        conf_neg[positive] = 0.
        conf_neg, _ = conf_neg.sort(dim=1, descending=True)
        ranks = torch.LongTensor(range(n_priors)).unsqueeze(0).expand_as(conf_neg).to(device)
        hard = ranks < (self.neg_pos_ratio * n_positives).unsqueeze(1)
        conf_loss = (conf_neg[hard].sum() + conf_pos.sum()) / n_positives.sum().float()
        return conf_loss + self.alpha * loc_loss


def extract_boxes(mask):
    mask = np.array(mask)
    obj_ids = np.unique(mask)[1:]
    masks = mask == obj_ids[:, None, None]
    boxes = []
    for i in range(len(obj_ids)):
        pos = np.where(masks[i])
        boxes.append([np.min(pos[1]), np.min(pos[0]), np.max(pos[1]), np.max(pos[0])])
    return torch.as_tensor(boxes, dtype=torch.float32), len(obj_ids)


def photometric_distort(img):
    ops = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue]
    random.shuffle(ops)
    for op in ops:
        if random.random() < 0.5:
            f = random.uniform(-18 / 255., 18 / 255.) if op is TF.adjust_hue else random.uniform(0.5, 1.5)
            img = op(img, f)
    return img


def expand(img, boxes, fill=(0.485, 0.456, 0.406)):
    h, w = img.size(1), img.size(2)
    s = random.uniform(1, 4)
    nh, nw = int(s * h), int(s * w)
    out = torch.ones((3, nh, nw), dtype=torch.float) * torch.FloatTensor(fill).unsqueeze(1).unsqueeze(1)
    left, top = random.randint(0, nw - w), random.randint(0, nh - h)
    out[:, top:top + h, left:left + w] = img
    return out, boxes + torch.FloatTensor([left, top, left, top]).unsqueeze(0)


def random_crop(img, boxes):
    h, w = img.size(1), img.size(2)
    while True:
        min_overlap = random.choice([0., .1, .3, .5, .7, .9, None])
        if min_overlap is None:
            return img, boxes
        for _ in range(50):
            nh, nw = int(random.uniform(0.3, 1) * h), int(random.uniform(0.3, 1) * w)
            if not 0.5 < nh / nw < 2:
                continue
            left, top = random.randint(0, w - nw), random.randint(0, h - nh)
            crop = torch.FloatTensor([left, top, left + nw, top + nh])
            overlap = find_jaccard_overlap(crop.unsqueeze(0), boxes)[0]
            if overlap.max().item() < min_overlap:
                continue
            centers = (boxes[:, :2] + boxes[:, 2:]) / 2.
            inside = (centers[:, 0] > left) * (centers[:, 0] < left + nw) * (centers[:, 1] > top) * \
                (centers[:, 1] < top + nh)
            if not inside.any():
                continue
            kept = boxes[inside, :]
            kept[:, :2] = torch.max(kept[:, :2], crop[:2]) - crop[:2]
            kept[:, 2:] = torch.min(kept[:, 2:], crop[2:]) - crop[:2]
            return img[:, top:top + nh, left:left + nw], kept


def augment(img, boxes):
    """The classic SSD augmentation on a PIL image and pixel xyxy boxes → (tensor 3×H×W in 0..1, pixel boxes)."""
    img = TF.to_tensor(photometric_distort(img))
    if random.random() < 0.5:
        img, boxes = expand(img, boxes)
    img, boxes = random_crop(img, boxes)
    if random.random() < 0.5:
        img = TF.hflip(img)
        boxes = torch.stack([img.size(2) - boxes[:, 2], boxes[:, 1], img.size(2) - boxes[:, 0], boxes[:, 3]], 1)
    return TF.to_pil_image(img), boxes


class PedestrianSet(torch.utils.data.Dataset):
    def __init__(self, root, items, transforms, augmented=False, class_label=1):
        self.imgs = [os.path.join(root, it["file"]) for it in items]
        self.masks = [os.path.join(root, it["mask"]) for it in items]
        self.transforms, self.augmented, self.class_label = transforms, augmented, class_label

    def __getitem__(self, idx):
        img = Image.open(self.imgs[idx])
        mask = Image.open(self.masks[idx])
        boxes, num_objs = extract_boxes(mask)
        if self.augmented:
            img, boxes = augment(img.convert("RGB"), boxes)
        original_dims = torch.FloatTensor([img.width, img.height, img.width, img.height]).unsqueeze(0)
        boxes = boxes / original_dims
        img = self.transforms(img)
        labels = torch.tensor(np.repeat(self.class_label, (boxes.size(0),)), dtype=torch.int64)
        return img, boxes, labels

    def __len__(self):
        return len(self.imgs)


def collate(batch):
    imgs, boxes, labels = zip(*batch)
    return torch.stack(imgs, dim=0), list(boxes), list(labels)


def calculate_ap(det_boxes, det_labels, det_scores, true_boxes, iou_threshold=0.75):
    """The notebook's calculate_AP (person class, trapezoidal area), 0 where it would raise (no detections)."""
    scores_dict = {}
    for i in range(len(det_scores)):
        if 1 in det_labels[i].tolist():
            for j in range(det_scores[i].shape[0]):
                scores_dict[i, j] = det_scores[i][j].item()
    if not scores_dict:
        return 0.
    reverse = dict(zip(scores_dict.values(), scores_dict.keys()))
    order = [reverse[s] for s in sorted(scores_dict.values(), reverse=True)]
    n = sum(len(t) for t in true_boxes)
    matched = [np.zeros(len(t)) for t in true_boxes]
    precision, recall, rec, num, correct = [], [], 0, 1, 0
    counter = np.zeros(len(det_scores))
    for img, obj in order:
        counter[img] += 1
        ious = [find_jaccard_overlap(true_boxes[img][k][None, :], det_boxes[img][obj][None, :]).item()
                for k in range(len(true_boxes[img]))]
        found = True
        for k in np.argsort(ious)[::-1]:
            if found:
                if matched[img][k] == 0:
                    if ious[k] > iou_threshold:
                        correct, rec, found = correct + 1, rec + 1 / n, False
                        matched[img][k] = 1
                    if not found or counter[img] == det_scores[img].shape[0]:
                        precision.append(correct / num)
                        recall.append(rec)
                        num += 1
    for i in range(1, len(precision) - 1)[::-1]:
        if precision[i] != 1 and precision[i + 1] - precision[i] > 0:
            precision[i] = precision[i + 1]
    return float(np.trapz(precision, x=recall)) if precision else 0.


def perform_epoch(net, loader, criterion, optimizer, scheduler, t):
    """The notebook's perform_epoch (optimizer None: evaluation), with where its time went added to `t`."""
    net.train() if optimizer is not None else net.eval()
    total_loss = 0
    dets, labs, scs, trues = [], [], [], []
    with torch.no_grad() if optimizer is None else torch.enable_grad():
        it = iter(loader)
        while True:
            t0 = time.perf_counter()
            try:
                batch_imgs, batch_boxes, batch_labels = next(it)
            except StopIteration:
                break
            t1 = time.perf_counter()
            t["data_wait"] += t1 - t0
            locs, scores = net(batch_imgs)
            loss = criterion(locs, scores, batch_boxes, batch_labels)
            if optimizer is not None:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
            total_loss += loss.item()
            t2 = time.perf_counter()
            t["steps" if optimizer is not None else "eval_forward"] += t2 - t1
            boxes, labels, scores_ = net.detect_objects(locs.detach(), scores.detach(), min_score=0.5,
                                                        max_overlap=0.5, top_k=10)
            dets += [b * 300 for b in boxes]
            labs += labels
            scs += scores_
            trues += [b * 300 for b in batch_boxes]
            t["detect"] += time.perf_counter() - t2
    t3 = time.perf_counter()
    ap = calculate_ap(dets, labs, scs, trues)
    t["ap"] += time.perf_counter() - t3
    return total_loss, ap


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", required=True, help="JSON {train: [{file, mask}], val: [...]}, paths in the zip")
    ap.add_argument("--zip", required=True, help="PennFudanPed.zip, or its unpacked folder")
    ap.add_argument("--start", required=True, help="2-class state_dict (.pth) both sides start from")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--loader-workers", type=int, default=8, help="DataLoader num_workers (the notebook's 8)")
    ap.add_argument("--augment", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)
    split = json.load(open(args.split))
    if os.path.isdir(args.zip):  # an unpacked release: the paths in the split are inside it
        root = args.zip
    else:
        root = tempfile.mkdtemp(prefix="epoch-torch-")
        with zipfile.ZipFile(args.zip) as z:  # the notebook unzips first, outside the loop
            z.extractall(root)
    transform = transforms.Compose([transforms.Resize((300, 300)), transforms.ToTensor()])
    trainset = PedestrianSet(root, split["train"], transform, augmented=args.augment)
    valset = PedestrianSet(root, split["val"], transform)
    kw = dict(batch_size=args.batch_size, num_workers=args.loader_workers, pin_memory=False, collate_fn=collate)
    trainloader = torch.utils.data.DataLoader(trainset, shuffle=True, **kw)
    valloader = torch.utils.data.DataLoader(valset, shuffle=False, **kw)
    net = SSD300(2)
    net.load_state_dict(torch.load(args.start))
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=int(len(trainset) / args.batch_size + 1) * args.epochs)
    criterion = MultiBoxLoss(net.priors_cxcy)
    epochs = []
    for epoch in range(args.epochs):
        t = {k: 0. for k in ["data_wait", "steps", "detect", "ap", "eval_forward"]}
        t0 = time.perf_counter()
        loss_train, ap_train = perform_epoch(net, trainloader, criterion, optimizer, scheduler, t)
        t1 = time.perf_counter()
        loss_val, ap_val = perform_epoch(net, valloader, criterion, None, None, t)
        t2 = time.perf_counter()
        epochs.append({"epoch": epoch + 1, "seconds": t2 - t0, "train_seconds": t1 - t0, "validation_seconds": t2 - t1,
                       "train_loss": loss_train, "val_loss": loss_val, "train_ap75": ap_train, "val_ap75": ap_val,
                       **{f"{k}_seconds": v for k, v in t.items()}})
    print(json.dumps({"torch_version": torch.__version__, "threads": args.threads, "batch_size": args.batch_size,
                      "loader_workers": args.loader_workers, "augment": args.augment, "n_train": len(trainset),
                      "n_val": len(valset), "epochs": epochs}))


if __name__ == "__main__":
    main()
