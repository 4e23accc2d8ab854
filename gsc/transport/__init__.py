"""Where images come from and go to, by transport name (skopeo's names):

    docker-daemon:REF   the local Docker Engine (the default for a bare reference)
    docker://REF        a registry (no daemon), gsc.transport.registry
    docker-archive:PATH a `docker save` tar
    oci-archive:PATH    a tar of an OCI image layout
    oci:DIR[:TAG]       an OCI image layout directory

gsc.transport.names parses them; gsc.transport.blobs holds an image's distribution
parts (config, layer blobs, verified digests); gsc.transport.layouts reads and writes the
file forms; gsc.transport.registry speaks the registry protocol.
"""
