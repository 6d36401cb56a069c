"""Media types of the Docker and OCI image formats."""

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

INDEXES = {OCI_INDEX, DOCKER_LIST}
MANIFESTS = {OCI_MANIFEST, DOCKER_MANIFEST}
LAYERS = {DOCKER_LAYER, DOCKER_LAYER_GZIP, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD}

# Docker's schema 2 has no zstd, so only these two layer types have a name in both formats.
LAYER_TO_OCI = {DOCKER_LAYER_GZIP: OCI_LAYER_GZIP, DOCKER_LAYER: OCI_LAYER}
LAYER_TO_DOCKER = {v: k for k, v in LAYER_TO_OCI.items()}

IMAGE_NAME_ANNOTATION = "io.containerd.image.name"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
