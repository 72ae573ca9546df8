"""Reading and writing hypernetwork files: the webui's pickled .pt (loaded weights-only) and our .safetensors."""
from __future__ import annotations

import contextlib
import json
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass

import torch
from torch import serialization as torch_serialization

from .errors import HypernetError
from .network import Hypernetwork, build, parse_dropout_structure

SAFETENSORS_EXTENSIONS = (".safetensors",)
PICKLE_EXTENSIONS = (".pt", ".ckpt", ".pth")
EXTENSIONS = PICKLE_EXTENSIONS[:2] + SAFETENSORS_EXTENSIONS

FORMAT_KEY = "format"
FORMAT_VALUE = "sd-hypernetwork"
VERSION_KEY = "format_version"
FORMAT_VERSION = 1


def _describe(path: str) -> str:
    return os.path.basename(path)


def _normalise(value):
    if isinstance(value, tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def _guess_wrong_kind(keys) -> str:
    names = [str(k) for k in keys]
    if any(n.startswith(("lora_", "lora_unet", "lora_te")) or ".lora_" in n or "lora_down" in n for n in names):
        return "it looks like a LoRA, not a hypernetwork"
    if any(n in ("state_dict", "model", "global_step") or n.startswith(("model.diffusion_model", "first_stage_model"))
           for n in names):
        return "it looks like a model checkpoint, not a hypernetwork"
    if any(n.startswith(("string_to_param", "emb_params", "clip_l", "clip_g")) for n in names):
        return "it looks like a textual-inversion embedding, not a hypernetwork"
    return "it has no context-width entries, so it is not a hypernetwork"


def metadata_with_defaults(raw: dict, stem: str) -> dict:
    """Metadata with the webui's defaults for keys old files lack (note activate_output defaults to True)."""
    meta = {k: _normalise(v) for k, v in raw.items()}
    meta["layer_structure"] = list(meta.get("layer_structure") or [1, 2, 1])
    meta.setdefault("activation_func", None)
    meta.setdefault("is_layer_norm", False)
    meta.setdefault("activate_output", True)
    meta.setdefault("last_layer_dropout", False)
    meta.setdefault("weight_initialization", "Normal")
    meta.setdefault("sd_checkpoint", None)
    meta.setdefault("sd_checkpoint_name", None)
    meta.setdefault("optional_info", None)
    meta.setdefault("step", 0)
    if not meta.get("name"):
        meta["name"] = stem
    ds = meta.get("dropout_structure")
    use_dropout = bool(meta.get("use_dropout", False))
    if ds:
        use_dropout = use_dropout or any(float(p) > 0 for p in ds)
    else:
        ds = parse_dropout_structure(meta["layer_structure"], use_dropout, bool(meta["last_layer_dropout"]))
    meta["use_dropout"] = use_dropout
    meta["dropout_structure"] = ds
    return meta


def _fix_old_keys(sd: dict) -> dict:
    renames = {"linear1.weight": "linear.0.weight", "linear1.bias": "linear.0.bias",
               "linear2.weight": "linear.1.weight", "linear2.bias": "linear.1.bias"}
    return {renames.get(k, k): v for k, v in sd.items()}


@contextlib.contextmanager
def _malformed(path: str):
    """Wrong types or values inside an otherwise readable file become a HypernetError naming the file."""
    try:
        yield
    except HypernetError:
        raise
    except (TypeError, ValueError, RuntimeError, AttributeError, KeyError) as e:
        detail = " ".join(str(e).split())[:300] or type(e).__name__
        raise HypernetError(f"{_describe(path)}: malformed hypernetwork data: {detail}") from None


def _check_shapes(state, metadata, source) -> dict:
    """Compare the file's tensors with the recorded structure on the meta device, before allocating anything:
    a tiny file must not make us build gigabytes of layers. Returns the meta-device layers."""
    with torch.device("meta"):
        expected = build(state, metadata["layer_structure"], metadata["activation_func"], metadata["is_layer_norm"],
                         metadata["activate_output"], metadata["dropout_structure"], source=source)
    for dim, (k_sd, v_sd) in state.items():
        for which, module, sd in (("k", expected[dim][0], k_sd), ("v", expected[dim][1], v_sd)):
            want = {k: tuple(t.shape) for k, t in module.state_dict().items()}
            have = {k: tuple(getattr(t, "shape", ())) for k, t in _fix_old_keys(sd).items()}
            if want != have:
                missing = sorted(set(want) - set(have))
                extra = sorted(set(have) - set(want))
                wrong = sorted(k for k in set(want) & set(have) if want[k] != have[k])
                detail = "; ".join(part for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unexpected {', '.join(extra)}" if extra else "",
                    ", ".join(f"{k} is {list(have[k])} not {list(want[k])}" for k in wrong)) if part)
                raise HypernetError(f"{source}: width {dim} ({which}) does not match its recorded structure "
                                    f"{metadata['layer_structure']} / {metadata['activation_func']}: {detail}")
    return expected


def _validate(state: dict, metadata: dict, path: str) -> dict:
    """Every check a load makes before it allocates weights; the meta-device layers of the network."""
    source = _describe(path)
    if not state:
        raise HypernetError(f"{source}: holds no hypernetwork modules")
    bad_widths = [d for d in state if d <= 0]
    if bad_widths:
        raise HypernetError(f"{source}: context widths must be positive, got {bad_widths}")
    return _check_shapes(state, metadata, source)


def from_state_dicts(state: dict[int, tuple[dict, dict]], metadata: dict, path: str) -> Hypernetwork:
    source = _describe(path)
    _validate(state, metadata, path)
    layers = build(state, metadata["layer_structure"], metadata["activation_func"], metadata["is_layer_norm"],
                   metadata["activate_output"], metadata["dropout_structure"], source=source)
    for dim, (k_sd, v_sd) in state.items():
        for which, module, sd in (("k", layers[dim][0], k_sd), ("v", layers[dim][1], v_sd)):
            try:
                module.load_state_dict(_fix_old_keys(sd), strict=True)
            except RuntimeError as e:
                detail = " ".join(str(e).split())
                raise HypernetError(f"{source}: width {dim} ({which}) does not match its recorded structure "
                                    f"{metadata['layer_structure']} / {metadata['activation_func']}: {detail}") from None
    return Hypernetwork(layers, metadata, path=path)


# ---- .pt / .ckpt -----------------------------------------------------------------------------------------

def _torch_load(path: str, mmap: bool):
    # torch.serialization.load: inside the webui torch.load is replaced by a stricter loader that refuses
    # files written by newer torch; weights_only keeps code in the file from ever running.
    if mmap:
        # tensors stay mapped, never read: shapes are all a description needs. Old (non-zip) files and
        # torch before 2.1 cannot map; those load normally.
        try:
            return torch_serialization.load(path, map_location="cpu", weights_only=True, mmap=True)
        except TypeError:
            pass
        except RuntimeError as e:
            if "mmap" not in str(e):
                raise
    return torch_serialization.load(path, map_location="cpu", weights_only=True)


def _read_pickle(path: str, mmap: bool = False) -> dict:
    source = _describe(path)
    try:
        obj = _torch_load(path, mmap)
    except pickle.UnpicklingError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        # torch's message opens with advice to load unsafely; the line naming the object is what matters
        named = [line for line in lines if "global" in line.lower()]
        detail = (named or lines or [type(e).__name__])[0]
        raise HypernetError(f"{source}: refused to load: the file contains objects other than tensors and plain "
                            f"data, which could run code ({detail})") from None
    except (zipfile.BadZipFile, EOFError, RuntimeError, ValueError, OSError, KeyError, AttributeError, IndexError,
            TypeError, OverflowError, struct.error) as e:  # the shapes garbage takes in the unpickler
        if isinstance(e, FileNotFoundError):
            raise HypernetError(f"{source}: file not found") from None
        detail = " ".join(str(e).split())[:300] or type(e).__name__
        raise HypernetError(f"{source}: cannot be read (truncated or not a torch file): {detail}") from None
    if not isinstance(obj, dict):
        raise HypernetError(f"{source}: holds a {type(obj).__name__}, not a hypernetwork dict")
    return obj


def _pickle_parts(raw: dict, path: str) -> tuple[dict, dict]:
    """(state dicts by width, raw metadata) of an unpickled hypernetwork dict."""
    source = _describe(path)
    state: dict[int, tuple[dict, dict]] = {}
    meta_raw = {}
    for key, value in raw.items():
        if type(key) is int:
            if not isinstance(value, (tuple, list)) or len(value) < 2 or not all(isinstance(v, dict) for v in value[:2]):
                raise HypernetError(f"{source}: width {key} should hold a (k, v) pair of state dicts")
            state[key] = (value[0], value[1])
        elif isinstance(key, str):
            meta_raw[key] = value
    if not state:
        raise HypernetError(f"{source}: {_guess_wrong_kind(raw.keys())}")
    return state, meta_raw


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def load_pickle(path: str) -> Hypernetwork:
    state, meta_raw = _pickle_parts(_read_pickle(path), path)
    with _malformed(path):
        return from_state_dicts(state, metadata_with_defaults(meta_raw, _stem(path)), path)


def save_pickle(net: Hypernetwork, path: str) -> None:
    data: dict = {}
    for dim, (k_sd, v_sd) in net.state_dicts().items():
        data[dim] = ({k: t.detach().cpu().clone() for k, t in k_sd.items()},
                     {k: t.detach().cpu().clone() for k, t in v_sd.items()})
    data.update(net.metadata)
    torch.save(data, path)


# ---- .safetensors ----------------------------------------------------------------------------------------

def _read_safetensors_header(path: str) -> dict:
    import safetensors
    source = _describe(path)
    try:
        with safetensors.safe_open(path, framework="pt", device="cpu") as f:
            return f.metadata() or {}
    except FileNotFoundError:
        raise HypernetError(f"{source}: file not found") from None
    except Exception as e:  # safetensors raises its own error types for a bad header
        detail = " ".join(str(e).split())[:300] or type(e).__name__
        raise HypernetError(f"{source}: not a readable safetensors file: {detail}") from None


def read_safetensors_metadata(path: str) -> dict:
    """Just the decoded metadata, without touching tensor data."""
    header = _read_safetensors_header(path)
    return _decode_metadata(header, path)


def _decode_metadata(header: dict, path: str) -> dict:
    source = _describe(path)
    if header.get(FORMAT_KEY) != FORMAT_VALUE:
        raise HypernetError(f"{source}: not a hypernetwork safetensors file (no '{FORMAT_KEY}: {FORMAT_VALUE}' "
                            f"marker in its metadata)")
    try:
        version = int(header.get(VERSION_KEY, "0"))
    except ValueError:
        version = -1
    if version != FORMAT_VERSION:
        raise HypernetError(f"{source}: hypernetwork format version {header.get(VERSION_KEY)!r} is not supported "
                            f"(this version reads {FORMAT_VERSION})")
    meta = {}
    for key, text in header.items():
        if key in (FORMAT_KEY, VERSION_KEY):
            continue
        try:
            meta[key] = json.loads(text)
        except (TypeError, ValueError):
            meta[key] = text
    return meta


def _safetensors_parts(path: str, read) -> tuple[dict, dict]:
    """(state dicts by width, raw metadata) of a hypernetwork .safetensors; `read(f, name)` gives each entry."""
    import safetensors
    source = _describe(path)
    header = _read_safetensors_header(path)
    if header.get(FORMAT_KEY) != FORMAT_VALUE:
        try:
            with safetensors.safe_open(path, framework="pt", device="cpu") as f:
                keys = list(f.keys())
        except Exception:
            keys = []
        if keys:
            raise HypernetError(f"{source}: {_guess_wrong_kind(keys)}")
    meta_raw = _decode_metadata(header, path)
    state: dict[int, tuple[dict, dict]] = {}
    try:
        with safetensors.safe_open(path, framework="pt", device="cpu") as f:
            for name in f.keys():
                dim_text, which, key = (name.split(".", 2) + ["", ""])[:3]
                if not dim_text.isdigit() or which not in ("k", "v") or not key:
                    raise HypernetError(f"{source}: unexpected tensor name {name!r} (expected '<width>.k.<key>')")
                pair = state.setdefault(int(dim_text), ({}, {}))
                pair[0 if which == "k" else 1][key] = read(f, name)
    except HypernetError:
        raise
    except Exception as e:
        detail = " ".join(str(e).split())[:300] or type(e).__name__
        raise HypernetError(f"{source}: tensor data cannot be read (truncated?): {detail}") from None
    return dict(sorted(state.items())), meta_raw


def load_safetensors(path: str) -> Hypernetwork:
    state, meta_raw = _safetensors_parts(path, lambda f, name: f.get_tensor(name))
    with _malformed(path):
        return from_state_dicts(state, metadata_with_defaults(meta_raw, _stem(path)), path)


def encode_metadata(metadata: dict) -> dict[str, str]:
    header = {FORMAT_KEY: FORMAT_VALUE, VERSION_KEY: str(FORMAT_VERSION)}
    for key, value in metadata.items():
        if key in header:
            continue
        try:
            header[str(key)] = json.dumps(value)
        except (TypeError, ValueError):
            raise HypernetError(f"metadata field {key!r} ({type(value).__name__}) cannot be stored as JSON") from None
    return header


def save_safetensors(net: Hypernetwork, path: str) -> None:
    from safetensors.torch import save_file as st_save
    tensors = {}
    for dim, (k_sd, v_sd) in net.state_dicts().items():
        for which, sd in (("k", k_sd), ("v", v_sd)):
            for key, t in sd.items():
                tensors[f"{dim}.{which}.{key}"] = t.detach().cpu().contiguous().clone()
    st_save(tensors, path, metadata=encode_metadata(net.metadata))


# ---- entry points ----------------------------------------------------------------------------------------

def _kind(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext in SAFETENSORS_EXTENSIONS:
        return "safetensors"
    if ext in PICKLE_EXTENSIONS:
        return "pickle"
    raise HypernetError(f"{_describe(path)}: unsupported extension {ext!r}; use .pt, .ckpt or .safetensors")


def _checked_kind(path: str) -> str:
    kind = _kind(path)
    if not os.path.isfile(path):
        raise HypernetError(f"{_describe(path)}: file not found")
    if os.path.getsize(path) == 0:
        raise HypernetError(f"{_describe(path)}: the file is empty")
    return kind


def load_file(path: str | os.PathLike) -> Hypernetwork:
    path = os.fspath(path)
    kind = _checked_kind(path)
    return load_safetensors(path) if kind == "safetensors" else load_pickle(path)


@dataclass(frozen=True)
class FileStructure:
    """What a file holds, read without its weights: sorted widths, metadata (with defaults), parameter count."""
    sizes: list
    metadata: dict
    parameters: int


class _Shape:
    """A tensor's shape from a .safetensors header, standing in for the tensor in the shape checks."""
    __slots__ = ("shape",)

    def __init__(self, shape):
        self.shape = tuple(int(n) for n in shape)


def read_structure(path: str | os.PathLike) -> FileStructure:
    """The file's structure without materialising its tensors: the .safetensors header, or a .pt unpickled
    with its tensors memory-mapped (not read). Makes every check `load_file` makes before loading weights,
    so a file this accepts, `load_file` accepts; HypernetError otherwise."""
    path = os.fspath(path)
    if _checked_kind(path) == "safetensors":
        state, meta_raw = _safetensors_parts(path, lambda f, name: _Shape(f.get_slice(name).get_shape()))
    else:
        state, meta_raw = _pickle_parts(_read_pickle(path, mmap=True), path)
    with _malformed(path):
        metadata = metadata_with_defaults(meta_raw, _stem(path))
        layers = _validate(state, metadata, path)
        parameters = sum(p.numel() for pair in layers.values() for module in pair for p in module.parameters())
    return FileStructure(sorted(state), metadata, parameters)


def save_file(net: Hypernetwork, path: str | os.PathLike) -> str:
    """Write atomically (temp file, then rename), so a crash never leaves half a file under the real name."""
    path = os.fspath(path)
    kind = _kind(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        (save_safetensors if kind == "safetensors" else save_pickle)(net, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def convert(src: str, dst: str) -> str:
    return save_file(load_file(src), dst)
