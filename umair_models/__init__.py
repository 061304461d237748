"""Pure PyTorch: feature spec, layers, encoders, rankers (UMAIR-FPS + baselines), metrics; and the
Spark-free, Ray-free helpers both pipelines share: the dataset spec, config loading, storage locations.

Shape letters used in every docstring: B batch, F fields, D embedding dim, L sequence length,
J modalities, K experts. This package never imports Spark or Ray.
"""
