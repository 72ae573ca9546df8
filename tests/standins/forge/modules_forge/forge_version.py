# as modules_forge/forge_version.py of Forge v2 main
version = '2.0.1v1.10.1'
