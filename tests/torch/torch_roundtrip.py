"""Helper for tests/torch/roundtrip_test.ts, run with Debian's /usr/bin/python3 (python3-torch).

  torch_roundtrip.py load FILE      torch.load FILE (also with weights_only=True) and print a JSON summary:
                                    {"type", "weights_only_ok", "tensors": [{name, shape, dtype, requires_grad,
                                    contiguous, sha256}]} where sha256 is of the tensor's float32 C-order bytes.
  torch_roundtrip.py save DIR       torch.save a set of checkpoints into DIR and write DIR/manifest.json with,
                                    per file, the expected names, shapes and sha256 of the float32 values our
                                    reader must return (bit-exact), or the error it must raise.
  torch_roundtrip.py hostile DIR    torch.save checkpoints carrying payloads that torch.load (without
                                    weights_only) would run, each beside a state_dict {"w": [1.5, -2]}, and write
                                    DIR/manifest.json: file → the global the payload calls. Running one would
                                    create DIR/pwned.
"""
import builtins
import collections
import hashlib
import json
import os
import subprocess
import sys

import torch
import torch.nn as nn


def f32_sha256(t):
    return hashlib.sha256(t.detach().to(torch.float32).contiguous().numpy().tobytes()).hexdigest()


def summary(sd):
    return [
        {"name": k, "shape": list(v.shape), "sha256": f32_sha256(v)}
        for k, v in sd.items()
    ]


class Net(nn.Module):
    """A module saved whole: nested children, a persistent and a non-persistent buffer, a None parameter."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1, bias=False))
        self.head = nn.Linear(8, 3)
        self.register_buffer("scale", torch.full((1, 2, 1, 1), 0.5))
        self.register_buffer("scratch", torch.zeros(5), persistent=False)
        self.register_parameter("unused", None)

    def forward(self, x):
        return self.head(self.features(x).flatten(1) * self.scale.flatten()[0])


def mixed_state_dict():
    g = torch.Generator().manual_seed(1234)
    base = torch.randn(3, 4, 5, generator=g)
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(6, 3, 3, 3, generator=g)
    sd["transposed"] = base.transpose(0, 2)  # a strided view: shares base's storage
    sd["row"] = base[1]  # a view with a storage offset
    sd["every_other"] = base[:, ::2, 1:]  # offset + non-unit strides
    sd["base"] = base
    # every float16 and bfloat16 bit pattern (subnormals, ±inf, NaNs with payloads)
    bits = torch.arange(65536, dtype=torch.int32).to(torch.int16)
    sd["half_all"] = bits.clone().view(torch.float16).reshape(256, 256)
    sd["bf16_all"] = bits.clone().view(torch.bfloat16).reshape(256, 256)
    sd["half_t"] = torch.randn(4, 6, generator=g).half().t()
    doubles = torch.randn(100, generator=g, dtype=torch.float64) * 1e3
    doubles[:6] = torch.tensor([1e-46, 3e-39, 1e39, -0.0, 1.0 + 2**-24, 1.0 + 3 * 2**-24], dtype=torch.float64)
    sd["double"] = doubles.reshape(10, 10)
    sd["scalar"] = torch.tensor(3.25)
    sd["one"] = torch.tensor([7.5])
    sd["empty"] = torch.zeros(0, 3)
    sd["param"] = nn.Parameter(torch.randn(2, 2, generator=g))
    return sd


def save(outdir):
    manifest = {}
    torch.manual_seed(0)

    sd = mixed_state_dict()
    expected = {"meta": {}, "tensors": summary(sd)}
    torch.save(sd, f"{outdir}/mixed_zip.pth")
    manifest["mixed_zip.pth"] = dict(expected, format="zip")
    torch.save(sd, f"{outdir}/mixed_legacy.pth", _use_new_zipfile_serialization=False)
    manifest["mixed_legacy.pth"] = dict(expected, format="legacy")

    net = Net()
    # like the widely shared SSD300 checkpoint: the whole model and the whole optimizer object (with momentum)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(2, 3, 2, 2)).sum().backward()
    opt.step()
    expected = {"meta": {"epoch": 7, "best": 0.25, "arch": "Net"}, "tensors": summary(net.state_dict())}
    ckpt = {"epoch": 7, "best": 0.25, "arch": "Net", "model": net, "optimizer": opt}
    torch.save(ckpt, f"{outdir}/module_zip.pth")
    manifest["module_zip.pth"] = dict(expected, format="zip")
    torch.save(ckpt, f"{outdir}/module_legacy.pth", _use_new_zipfile_serialization=False)
    manifest["module_legacy.pth"] = dict(expected, format="legacy")

    wrapped = {"model_state_dict": net.state_dict(), "optimizer": {"lr": 0.1}, "step": 12}
    torch.save(wrapped, f"{outdir}/model_state_dict.pth")
    manifest["model_state_dict.pth"] = {
        "format": "zip", "meta": {"optimizer": {"lr": 0.1}, "step": 12}, "tensors": summary(net.state_dict())
    }

    # a bare state_dict (OrderedDict with _metadata) in the legacy format, as torchvision's VGG16 file is stored
    torch.save(net.state_dict(), f"{outdir}/state_dict_legacy.pth", _use_new_zipfile_serialization=False)
    manifest["state_dict_legacy.pth"] = {"format": "legacy", "meta": {}, "tensors": summary(net.state_dict())}

    # pickle protocols 4 and 5: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL
    sd = mixed_state_dict()
    for proto in (4, 5):
        torch.save(sd, f"{outdir}/mixed_zip_p{proto}.pth", pickle_protocol=proto)
        manifest[f"mixed_zip_p{proto}.pth"] = {"format": "zip", "meta": {}, "tensors": summary(sd)}
    torch.save(ckpt, f"{outdir}/module_legacy_p4.pth", pickle_protocol=4, _use_new_zipfile_serialization=False)
    manifest["module_legacy_p4.pth"] = dict(expected, format="legacy")

    bn = collections.OrderedDict(nn.BatchNorm2d(3).state_dict())  # has an int64 num_batches_tracked
    torch.save(bn, f"{outdir}/int_buffer.pth")
    manifest["int_buffer.pth"] = {"error": "num_batches_tracked"}

    q = torch.quantize_per_tensor(torch.randn(4), 0.1, 0, torch.qint8)
    torch.save({"q": q}, f"{outdir}/quantized.pth")
    manifest["quantized.pth"] = {"error": "_rebuild_qtensor"}

    with open(f"{outdir}/manifest.json", "w") as f:
        json.dump(manifest, f, indent=1)


class Payload:
    """Pickles as a call of `fn(*args)`: what a malicious checkpoint carries."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def hostile(outdir):
    marker = f"{outdir}/pwned"
    sd = collections.OrderedDict(w=torch.tensor([1.5, -2.0]))
    cases = {
        "system_zip.pth": ({"state_dict": sd, "payload": Payload(os.system, f"touch {marker}")}, {}),
        "eval_legacy.pth": (
            {"state_dict": sd, "payload": Payload(builtins.eval, f"open({marker!r}, 'w')")},
            {"_use_new_zipfile_serialization": False},
        ),
        "popen_p4.pth": (
            {"state_dict": sd, "payload": Payload(subprocess.Popen, ["touch", marker])},
            {"pickle_protocol": 4},
        ),
    }
    manifest = {}
    for name, (obj, kwargs) in cases.items():
        torch.save(obj, f"{outdir}/{name}", **kwargs)
        fn = obj["payload"].fn
        manifest[name] = {"global": f"{fn.__module__}.{fn.__qualname__}", "sha256": f32_sha256(sd["w"])}
    with open(f"{outdir}/manifest.json", "w") as f:
        json.dump(manifest, f, indent=1)


def load(path):
    obj = torch.load(path, map_location="cpu")
    try:
        torch.load(path, map_location="cpu", weights_only=True)
        weights_only_ok = True
    except TypeError:  # torch without the weights_only argument
        weights_only_ok = None
    out = {
        "type": type(obj).__name__,
        "weights_only_ok": weights_only_ok,
        "tensors": [
            {
                "name": k,
                "shape": list(v.shape),
                "dtype": str(v.dtype),
                "requires_grad": v.requires_grad,
                "contiguous": v.is_contiguous(),
                "sha256": f32_sha256(v),
            }
            for k, v in obj.items()
        ],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    {"load": load, "save": save, "hostile": hostile}[sys.argv[1]](sys.argv[2])
