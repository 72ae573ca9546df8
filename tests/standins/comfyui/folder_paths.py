"""Stand-in for ComfyUI's `folder_paths`: named model folders, listed recursively as '/'-separated relative paths."""
import os

supported_pt_extensions = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"}
models_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
folder_names_and_paths = {"hypernetworks": ([os.path.join(models_dir, "hypernetworks")], supported_pt_extensions)}


def set_folder(name, paths):
    """Tests point a folder kind at their own directories (ComfyUI reads extra_model_paths.yaml for this)."""
    folder_names_and_paths[name] = (list(paths), supported_pt_extensions)


def add_model_folder_path(folder_name, full_folder_path, is_default=False):
    paths, exts = folder_names_and_paths.setdefault(folder_name, ([], supported_pt_extensions))
    if full_folder_path not in paths:
        paths.insert(0, full_folder_path) if is_default else paths.append(full_folder_path)


def get_folder_paths(folder_name):
    return folder_names_and_paths[folder_name][0][:]


def get_filename_list(folder_name):
    paths, exts = folder_names_and_paths[folder_name]
    found = set()
    for root in paths:
        for folder, dirs, files in os.walk(root, followlinks=True):
            for f in files:
                if os.path.splitext(f)[1].lower() in exts:
                    found.add(os.path.relpath(os.path.join(folder, f), root).replace(os.sep, "/"))
    return sorted(found)


def get_full_path(folder_name, filename):
    filename = os.path.relpath(os.path.join("/", filename), "/")
    for root in folder_names_and_paths[folder_name][0]:
        path = os.path.join(root, filename)
        if os.path.isfile(path):
            return path
    return None


def get_full_path_or_raise(folder_name, filename):
    path = get_full_path(folder_name, filename)
    if path is None:
        raise FileNotFoundError(f"Model in folder '{folder_name}' with filename '{filename}' not found.")
    return path
