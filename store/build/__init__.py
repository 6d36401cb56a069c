"""Dockerfile builds, as Docker's classic builder does them: parsing, the context, the cache,
the steps.

Owns the Dockerfile front end (dockerfile.py: stages, instructions, Docker's shell-word
substitution), the build context (context.py: .dockerignore, COPY/ADD source resolution confined
to the context, the `file:`/`dir:` checksums Docker prints in history), ADD's downloads
(remote.py), the executor that runs the steps and caches them (builder.py), what builds
remember between runs (memo.py) and the command line read without typer (command.py), so that
a build that is all cache starts in a few milliseconds more than Python itself.
It may import the store's core (core, db, paths, blobs, layers, images, leases, fsutil, errors,
…), containers/ to RUN a step, layerfs/ and oci/; never gc/ or reports/, which sit above the
store. The front end imports only the store's errors, so parsing a Dockerfile loads nothing
else.
"""
