"""The JSON Schemas of the workspace files, shipped as package data of ``lagosync.schemas``.

pyproject.toml maps this package onto this folder, so the schemas exist once: editors read the files
through the yaml-language-server modelines, lagosync reads them with importlib.resources.
"""
