"""Stand-in for ComfyUI's ``folder_paths``: model folders under a base directory tests choose.

Call ``reset(base)`` to point every folder into a fresh temporary directory.
"""

from __future__ import annotations

import os

supported_pt_extensions = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"}
models_dir = ""
folder_names_and_paths: dict[str, tuple[list[str], set[str]]] = {}
_temp_directory = ""


def reset(base: str, *, core_background_removal: bool = True) -> None:
    """Fresh folders under ``base``; ``core_background_removal`` mimics ComfyUI >= 0.19."""
    global models_dir, _temp_directory
    models_dir = os.path.join(base, "models")
    _temp_directory = os.path.join(base, "temp")
    folder_names_and_paths.clear()
    folder_names_and_paths["checkpoints"] = ([os.path.join(models_dir, "checkpoints")], supported_pt_extensions)
    if core_background_removal:
        folder_names_and_paths["background_removal"] = (
            [os.path.join(models_dir, "background_removal")], supported_pt_extensions)


def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False) -> None:
    if folder_name in folder_names_and_paths:
        paths, _ = folder_names_and_paths[folder_name]
        if full_folder_path in paths:
            if is_default and paths[0] != full_folder_path:
                paths.remove(full_folder_path)
                paths.insert(0, full_folder_path)
        elif is_default:
            paths.insert(0, full_folder_path)
        else:
            paths.append(full_folder_path)
    else:
        folder_names_and_paths[folder_name] = ([full_folder_path], set())


def get_folder_paths(folder_name: str) -> list[str]:
    return folder_names_and_paths[folder_name][0][:]


def get_filename_list(folder_name: str) -> list[str]:
    """Relative paths (``/``-separated) of the files with a listed extension, as ComfyUI returns them."""
    paths, extensions = folder_names_and_paths[folder_name]
    names: set[str] = set()
    for folder in paths:
        for root, _, files in os.walk(folder, followlinks=True):
            for file in files:
                if not extensions or os.path.splitext(file)[1].lower() in extensions:
                    names.add(os.path.relpath(os.path.join(root, file), folder).replace(os.sep, "/"))
    return sorted(names)


def get_full_path(folder_name: str, filename: str) -> str | None:
    if folder_name not in folder_names_and_paths:
        return None
    for folder in folder_names_and_paths[folder_name][0]:
        path = os.path.join(folder, os.path.normpath(filename))
        if os.path.isfile(path):
            return path
    return None


def get_full_path_or_raise(folder_name: str, filename: str) -> str:
    path = get_full_path(folder_name, filename)
    if path is None:
        raise FileNotFoundError(f"Model in folder '{folder_name}' with filename '{filename}' not found.")
    return path


def get_temp_directory() -> str:
    return _temp_directory


def get_output_directory() -> str:
    return os.path.join(os.path.dirname(_temp_directory), "output")


def get_input_directory() -> str:
    return os.path.join(os.path.dirname(_temp_directory), "input")
