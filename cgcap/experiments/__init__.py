"""The paper's three open checks as reproducible experiments, each one MLflow parent run with child runs,
a table and a plot (``cgcap experiment real-captions | iterations | transfer``):

- ``real_captions``: the guidance classifiers on a dataset's own reference captions;
- ``iterations``: the fewest cache updates per token that keep 90% of the gain;
- ``transfer``: every classifier on every modality, each cell's gain over λ1 = 0.
"""
