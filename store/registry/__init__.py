"""The registry client: pull and push over the OCI distribution API, and Docker's credentials.

Imported only by the pull, push, login and logout commands, so httpx never slows the others.
"""
