"""The garbage collector: the reference graph, mark & sweep, prune policies, size accounting."""
