"""The image store: blobs, layers, images, references and the archives that move them."""
