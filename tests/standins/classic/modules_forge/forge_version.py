# as modules_forge/forge_version.py of Forge Classic (branch classic)
version = "classic"
