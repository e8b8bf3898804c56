#!/usr/bin/env python3
"""Writes `import` and `pth` seeds in checkpoint layouts the corpora lacked (session 44).

Every `import` seed was the notebook fixture's own pickle (a protocol-2 dict holding a state
dict), and every `pth` seed one of two `torch.save` files of loose tensors, so the importer's
other paths (sgrvinod's whole `Encoder`/`DecoderWithAttention` modules with their Adam
optimizers, DataParallel's `module.` names, a state dict under `model_state_dict`, sgrvinod's
state dicts) and the pickle machine's other protocols (0's text opcodes, 1, 4's frames and
memoize, 5) were reached only by mutation luck. These seeds hold the notebook fixture's own
tensors (its storages, shapes and strides) in those layouts, so each imports; the `pth` seeds
wrap them in whole files, a zip archive and PyTorch's legacy format.

No PyTorch is needed: the pickles name PyTorch's classes and functions through stand-in
modules, as `torch.save` would write them.

    python3 crates/glimpse-fuzz/make_pickle_seeds.py OUT   # writes OUT/import/seed-*, OUT/pth/seed-*
"""

import collections
import io
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[2] / "tests/fixtures/torch/notebook/attention_model_state.pth"


def stand_in_module(name):
    """A module named `name`, and its parents (importing it imports them)."""
    parent, _, _ = name.rpartition(".")
    if parent:
        stand_in_module(parent)
    module = sys.modules.get(name) or types.ModuleType(name)
    sys.modules[name] = module
    return module


def stand_in(module_name, name, kind="function"):
    """A function or class that pickles as `module_name.name`."""
    module = stand_in_module(module_name)
    if kind == "class":
        value = type(name, (), {})
    else:
        def value(*args):
            return args
        value.__name__ = value.__qualname__ = name
    value.__module__ = module_name
    setattr(module, name, value)
    return value


REBUILD_TENSOR = stand_in("torch._utils", "_rebuild_tensor_v2")
REBUILD_PARAMETER = stand_in("torch._utils", "_rebuild_parameter")
STORAGE_TYPES = {n: stand_in("torch", n, "class") for n in ["FloatStorage", "LongStorage"]}


class Storage:
    def __init__(self, kind, key, numel):
        self.kind, self.key, self.numel = kind, key, numel


class Tensor:
    """A tensor over a stored storage, pickled as `torch.save` pickles one."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        hooks = collections.OrderedDict()
        return REBUILD_TENSOR, (self.storage, self.offset, self.size, self.stride, False, hooks)


class Parameter:
    def __init__(self, tensor):
        self.tensor = tensor

    def __reduce__(self):
        return REBUILD_PARAMETER, (self.tensor, True, collections.OrderedDict())


def read_notebook():
    """(the pickle's top-level dict, with Tensor leaves; the archive's other records)."""
    archive = zipfile.ZipFile(FIXTURE)
    name = next(n for n in archive.namelist() if n.endswith("/data.pkl"))

    class Reader(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return lambda storage, offset, size, stride, *rest: Tensor(storage, offset, size, stride)
            if module == "torch":
                return name
            return super().find_class(module, name)

        def persistent_load(self, pid):
            _, kind, key, _location, numel = pid
            return Storage(kind, key, numel)

    top = Reader(io.BytesIO(archive.read(name))).load()
    others = [(n, archive.read(n)) for n in archive.namelist() if n != name]
    return top, others


class Writer(pickle.Pickler):
    """Storages as `torch.save`'s zip format names them; `legacy` as its old format does."""

    def __init__(self, file, protocol, legacy=False):
        super().__init__(file, protocol)
        self.legacy = legacy

    def persistent_id(self, obj):
        if not isinstance(obj, Storage):
            return None
        kind = STORAGE_TYPES[obj.kind]
        if self.legacy:
            return ("storage", kind, obj.key, "cpu", obj.numel, None)
        return ("storage", kind, obj.key, "cpu", obj.numel)


def dumps(obj, protocol=2, legacy=False):
    out = io.BytesIO()
    Writer(out, protocol, legacy).dump(obj)
    return out.getvalue()


MODULE_CLASSES = {}


def module_class(path):
    module_name, _, name = path.rpartition(".")
    if path not in MODULE_CLASSES:
        MODULE_CLASSES[path] = stand_in(module_name, name, "class")
    return MODULE_CLASSES[path]


def module(path, parameters=(), buffers=(), children=(), **attributes):
    """An `nn.Module` object as pickling one writes it: its class and its `__dict__`."""
    obj = module_class(path)()
    obj.__dict__.update(
        training=False,
        _parameters=collections.OrderedDict(parameters),
        _buffers=collections.OrderedDict(buffers),
        _non_persistent_buffers_set=set(),
        _backward_hooks=collections.OrderedDict(),
        _forward_hooks=collections.OrderedDict(),
        _forward_pre_hooks=collections.OrderedDict(),
        _state_dict_hooks=collections.OrderedDict(),
        _load_state_dict_pre_hooks=collections.OrderedDict(),
        _modules=collections.OrderedDict(children),
        **attributes,
    )
    return obj


NN = "torch.nn.modules"


def module_tree(tensors, path, classes):
    """Nested modules for `tensors` (dotted name → Tensor): `classes(dotted module name)` names
    each module's class; weights and biases are parameters, running statistics buffers."""
    children, parameters, buffers = collections.OrderedDict(), [], []
    groups = collections.OrderedDict()
    for name, tensor in tensors.items():
        head, _, rest = name.partition(".")
        if not rest:
            if head in ("running_mean", "running_var", "num_batches_tracked"):
                buffers.append((head, tensor))
            else:
                parameters.append((head, Parameter(tensor)))
        else:
            groups.setdefault(head, collections.OrderedDict())[rest] = tensor
    for head, inner in groups.items():
        child = f"{path}.{head}" if path else head
        children[head] = module_tree(inner, child, classes)
    return module(classes(path), parameters, buffers, children.items())


def sgrvinod_class(path):
    """sgrvinod's `models.py` classes and the torchvision/torch ones inside them."""
    parts = path.split(".")
    last = parts[-1]
    if path == "encoder":
        return "models.Encoder"
    if path == "decoder":
        return "models.DecoderWithAttention"
    if path == "decoder.attention":
        return "models.Attention"
    if path == "encoder.resnet" or (len(parts) == 3 and parts[1] == "resnet" and last in "4567"):
        return f"{NN}.container.Sequential"
    if len(parts) == 4 and parts[1] == "resnet":
        return "torchvision.models.resnet.BasicBlock"
    if last == "downsample":
        return f"{NN}.container.Sequential"
    if last == "decode_step":
        return f"{NN}.rnn.LSTMCell"
    if last == "embedding":
        return f"{NN}.sparse.Embedding"
    if last.startswith("bn") or (parts[-2:-1] == ["downsample"] and last == "1") or path == "encoder.resnet.1":
        return f"{NN}.batchnorm.BatchNorm2d"
    if last.startswith("conv") or path == "encoder.resnet.0" or (parts[-2:-1] == ["downsample"] and last == "0"):
        return f"{NN}.conv.Conv2d"
    return f"{NN}.linear.Linear"


SGRVINOD_RENAMES = [
    ("decoder.attention.U.", "decoder.attention.encoder_att."),
    ("decoder.attention.W.", "decoder.attention.decoder_att."),
    ("decoder.attention.A.", "decoder.attention.full_att."),
    ("decoder.lstm_cell.", "decoder.decode_step."),
    ("decoder.fcn.", "decoder.fc."),
]


def sgrvinod_names(state):
    renamed = collections.OrderedDict()
    for name, tensor in state.items():
        for old, new in SGRVINOD_RENAMES:
            if name.startswith(old):
                name = new + name[len(old):]
        renamed[name] = tensor
    return renamed


def adam(parameters):
    """A whole `torch.optim.Adam` object as sgrvinod's checkpoints hold one: its state keyed
    by the very parameter objects the model holds (shared through the pickle's memo)."""
    optimizer = module_class("torch.optim.adam.Adam")()
    state = collections.defaultdict(dict)
    for p in parameters[:3]:
        state[p] = {"step": 7, "exp_avg": p.tensor, "exp_avg_sq": p.tensor}
    optimizer.__dict__.update(
        defaults={"lr": 4e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "amsgrad": False},
        state=state,
        param_groups=[{"params": parameters, "lr": 4e-4, "betas": (0.9, 0.999)}],
    )
    return optimizer


def parameters_of(tree):
    found = [p for p in tree.__dict__["_parameters"].values()]
    for child in tree.__dict__["_modules"].values():
        found += parameters_of(child)
    return found


RESNET_CHILDREN = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}


def torchvision_name(name):
    """`children()[:-2]` indices, as the captioners name the trunk, back to torchvision's."""
    head, _, rest = name.partition(".")
    return f"{RESNET_CHILDREN[head]}.{rest}"


def layouts(top):
    state = top["state_dict"]
    sgrvinod = sgrvinod_names(state)
    split = lambda prefix: collections.OrderedDict(
        (n[len(prefix):], t) for n, t in sgrvinod.items() if n.startswith(prefix)
    )
    encoder = module_tree(split("encoder."), "encoder", sgrvinod_class)
    decoder = module_tree(split("decoder."), "decoder", sgrvinod_class)
    whole = {
        "epoch": 11,
        "epochs_since_improvement": 2,
        "bleu-4": 0.2113,
        "encoder": encoder,
        "decoder": decoder,
        "encoder_optimizer": None,
        "decoder_optimizer": adam(parameters_of(decoder)),
    }
    data_parallel = collections.OrderedDict(
        (n.replace("encoder.", "module.encoder.", 1).replace("decoder.", "module.decoder.", 1), t)
        for n, t in state.items()
    )
    torchvision = collections.OrderedDict(
        (torchvision_name(n[len("encoder.resnet."):]), t)
        for n, t in state.items() if n.startswith("encoder.resnet.")
    )
    return {
        "torchvision-state-dict": dumps(torchvision, protocol=2),
        "sgrvinod-whole-modules": dumps(whole, protocol=2),
        "sgrvinod-state-dicts-p5": dumps(
            {"epoch": 3, "encoder": split("encoder."), "decoder": split("decoder.")}, protocol=5
        ),
        "notebook-model-state-dict-p4": dumps(
            {"epoch": 4, "model_state_dict": state, "optimizer_state_dict": {"state": {}, "param_groups": []}},
            protocol=4,
        ),
        "notebook-data-parallel-p3": dumps(dict(top, state_dict=data_parallel), protocol=3),
        "notebook-p0": dumps(top, protocol=0),
        "notebook-p1": dumps(top, protocol=1),
    }


def zip_file(pickle_bytes, others):
    """A `torch.save` zip archive: `archive/data.pkl` and the fixture's storages, stored."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", pickle_bytes)
        for name, data in others:
            archive.writestr("archive/" + name.split("/", 1)[1], data)
    return out.getvalue()


LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def legacy_file(top, others, protocol=2):
    """PyTorch's format before 1.6: magic number, protocol version, system info, the object,
    the storage keys, then each storage as its element count and bytes."""
    storages = {n.rsplit("/", 1)[1]: d for n, d in others if "/data/" in n}
    used = {}

    def collect(obj):
        if isinstance(obj, Tensor):
            used[obj.storage.key] = obj.storage
        elif isinstance(obj, dict):
            for v in obj.values():
                collect(v)
    collect(top)
    out = io.BytesIO()
    for header in [LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True,
                                        "type_sizes": {"short": 2, "int": 4, "long": 4}}]:
        pickle.dump(header, out, protocol)
    Writer(out, protocol, legacy=True).dump(top)
    keys = sorted(used, key=int)
    pickle.dump(keys, out, protocol)
    for key in keys:
        storage = used[key]
        out.write(struct.pack("<q", storage.numel))
        out.write(storages[key])
    return out.getvalue()


def main():
    out = Path(sys.argv[1])
    top, others = read_notebook()
    pickles = layouts(top)
    (out / "import").mkdir(parents=True, exist_ok=True)
    (out / "pth").mkdir(parents=True, exist_ok=True)
    for name, data in pickles.items():
        (out / "import" / f"seed-{name}").write_bytes(data)
    # Whole files: the layouts' archives would each repeat the fixture's 1.8 MB of storages,
    # so the `pth` seeds keep the decoder's smaller tensors only.
    small = dict(top, state_dict=collections.OrderedDict(
        (n, t) for n, t in top["state_dict"].items()
        if n.startswith("decoder.") and t.storage.numel <= 2048))
    (out / "pth" / "seed-notebook-decoder-zip-p4").write_bytes(zip_file(dumps(small, protocol=4), others_for(small, others)))
    (out / "pth" / "seed-notebook-decoder-legacy").write_bytes(legacy_file(small, others))


def others_for(top, others):
    """The archive's records, storages only those `top` uses."""
    keys = {t.storage.key for t in top["state_dict"].values()}
    return [(n, d) for n, d in others if "/data/" not in n or n.rsplit("/", 1)[1] in keys]


if __name__ == "__main__":
    main()
