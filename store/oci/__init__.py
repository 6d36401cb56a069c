"""The image format as the OCI image spec and Docker define it: media types, platforms, and
the image model (descriptors, manifests, indexes, image configs, a docker-archive's
manifest.json), parsed and validated once.

Pure data: it may import only the store's errors and digest. archive/ and registry/ both
read and write images through it.
"""
