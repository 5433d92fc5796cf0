"""The caption service's library side: REST schemas, option checks, limits, errors, the FastAPI app.

Nothing here imports Ray Serve: ``deployments/`` wires these objects to Serve, and the
remote scorers here only call whatever handle they are given (docs/ARCHITECTURE.md).
"""
