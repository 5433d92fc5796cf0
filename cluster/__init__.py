"""Ray cluster definitions: KubeRay manifests, the cluster launcher config, and a local multi-node cluster."""
