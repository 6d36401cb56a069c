"""Containers: records, lifecycle, the shim, storage drivers, root file systems, the OCI runtime,
changes, commit.

Owns the `containers` table and containers/<id>/: a container's writable layer (through its
storage driver, overlay or vfs: drivers.py), its OCI bundle and lock, and its process under
runc or crun.
This is the only room that runs a container. It may import the store's core (core, db,
layers, images, paths, fsutil, …) and layerfs/ (commit writes a layer through the same
extraction as load); nothing outside containers/ imports its runtime or lifecycle modules,
except through `Store.containers` and the views.
"""
