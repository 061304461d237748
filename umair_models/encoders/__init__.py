"""Item encoders: the dual-output image encoder and the multi-perspective text encoder."""

from umair_models.encoders.image import DualOutputResNet, ImageEncoderConfig, gram_matrix

__all__ = ["DualOutputResNet", "ImageEncoderConfig", "gram_matrix"]
