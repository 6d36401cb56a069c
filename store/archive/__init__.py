"""Archives: `load` and `save` of docker-archive (legacy and Docker 25+) and OCI layouts.

Owns intake (a layer blob verified, decompressed and extracted, then an image committed in
chain order), which the registry's pull shares. It may import the store's core, layerfs/ and
oci/ (the image model); never containers/ or registry/.
"""
