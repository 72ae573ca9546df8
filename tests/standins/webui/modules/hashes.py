"""Stand-in of webui v1.10.1's modules/hashes.py: whole-file sha256 kept in modules.cache's `hashes` section
under a title (`hypernet/<name>`, `lora/<name>`, ...) as {"mtime", "sha256"}; valid while the file's mtime is not
newer than the recorded one. Prints the webui's "Calculating sha256 for ..." line; --no-hashing gives None."""
import hashlib
import os.path

from modules import shared
import modules.cache

dump_cache = modules.cache.dump_cache
cache = modules.cache.cache


def calculate_sha256(filename):
    h = hashlib.sha256()
    with open(filename, "rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_from_cache(filename, title, use_addnet_hash=False):
    hashes = cache("hashes-addnet") if use_addnet_hash else cache("hashes")
    try:
        ondisk_mtime = os.path.getmtime(filename)
    except FileNotFoundError:
        return None
    if title not in hashes:
        return None
    cached_sha256 = hashes[title].get("sha256", None)
    cached_mtime = hashes[title].get("mtime", 0)
    if ondisk_mtime > cached_mtime or cached_sha256 is None:
        return None
    return cached_sha256


def sha256(filename, title, use_addnet_hash=False):
    hashes = cache("hashes-addnet") if use_addnet_hash else cache("hashes")
    value = sha256_from_cache(filename, title, use_addnet_hash)
    if value is not None:
        return value
    if shared.cmd_opts.no_hashing:
        return None
    print(f"Calculating sha256 for {filename}: ", end='')
    value = calculate_sha256(filename)  # the stand-in has no addnet hash: nothing here uses it
    print(f"{value}")
    hashes[title] = {"mtime": os.path.getmtime(filename), "sha256": value}
    dump_cache()
    return value
