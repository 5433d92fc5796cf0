"""Ray Serve: one thin deployment per model role, the HTTP ingress and the Serve config files.

Model logic lives in ``cgcap``; these modules only wire it to Serve (docs/ARCHITECTURE.md).
"""
