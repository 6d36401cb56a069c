"""Layer file systems: a layer tar in and out of a directory, confined and byte-exact.

Owns streaming extraction (design rule 6), tar-split (rule 5), safe path resolution,
whiteouts and compression. Works on streams and directories only: it may import the store's
errors, digest and fsutil, never the database, images or containers.
"""
