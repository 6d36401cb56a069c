"""The OCI layer spec's whiteout names, and overlayfs's marker for an opaque directory."""

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
