"""Dual-output image encoder (UMAIR-FPS section 2.2, eq. 2-4) on a torchvision ResNet.

    images [B, 3, H, W] -> stem -> layer1 -> layer2 -> layer3 -> layer4
    e_SEM [B, C4]           = MeanPooling(layer4)                      (eq. 3)
    G^l   [B, C_l, C_l]     = F_l F_l^T / (H_l W_l),  l = layer1..3    (eq. 4, channel Gram matrix)
    e_STY [B, S * S]        = max_l flatten(MaxPool(G^l) to S x S)     (style_merge="max", the default)
          [B, 3 * S * S]    = concat_l flatten(MaxPool(G^l) to S x S)  (style_merge="concat")

"the G^l of the first three layers merged by max pooling" (section 2.2): each Gram matrix is
max-pooled to S x S, and the three pooled matrices are merged by an element-wise max, which gives
the paper's 256-wide e_STY at S = 16 (Table 4: w/o STY removes a Linear(256 -> 64)). Keeping the
three side by side (768) is the named alternative `concat`.

Sizes (S = style_pool = 16 by default, so e_STY has 256 values for every depth, 768 with concat):
    resnet18:  C = 64, 128, 256 | C4 = 512     resnet50/101: C = 256, 512, 1024 | C4 = 2048
The max pooling is adaptive 2-D max pooling of each Gram matrix viewed as a C_l x C_l image into
S x S blocks (block (a, b) = max of g_jk over channel block a x channel block b).
A multi-label head Linear(C4 -> num_labels) on e_SEM serves the pretext task (image -> artist
tags) and is not used at inference. Weights start random: nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models

DEPTHS = {18: models.resnet18, 50: models.resnet50, 101: models.resnet101}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ImageEncoderConfig:
    depth: int = 101
    num_labels: int = 256
    style_pool: int = 16
    image_size: int = 224
    style_merge: str = "max"  # "max": element-wise max of the pooled Gram matrices (paper); "concat": side by side

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Eq. 4: [B, C, H, W] -> [B, C, C], g_jk = sum_hw F_jhw F_khw / (H W). Computed in fp32."""
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w).float()
    return torch.bmm(f, f.transpose(1, 2)) / (h * w)


class DualOutputResNet(nn.Module):
    def __init__(self, config: ImageEncoderConfig = ImageEncoderConfig()) -> None:
        super().__init__()
        if config.depth not in DEPTHS:
            raise ValueError(f"depth must be one of {sorted(DEPTHS)}, got {config.depth}")
        self.config = config
        net = DEPTHS[config.depth](weights=None)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.sem_dim = net.fc.in_features
        if config.style_merge not in ("max", "concat"):
            raise ValueError(f"style_merge must be 'max' or 'concat', got {config.style_merge!r}")
        self.style_dim = (3 if config.style_merge == "concat" else 1) * config.style_pool**2
        self.head = nn.Linear(self.sem_dim, config.num_labels)  # pretext only

    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images [B, 3, H, W] (normalised) -> (e_sem [B, C4], e_sty [B, S*S] or [B, 3*S*S]), both fp32."""
        x = self.stem(images)
        s1 = self.layer1(x)
        s2 = self.layer2(s1)
        s3 = self.layer3(s2)
        s4 = self.layer4(s3)
        e_sem = s4.float().mean(dim=(2, 3))
        pool = self.config.style_pool
        grams = [
            F.adaptive_max_pool2d(gram_matrix(s).unsqueeze(1), pool).flatten(1) for s in (s1, s2, s3)
        ]  # 3 x [B, S*S]
        if self.config.style_merge == "concat":
            return e_sem, torch.cat(grams, dim=1)
        return e_sem, torch.stack(grams, dim=0).amax(dim=0)

    def forward(self, images: torch.Tensor, head: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """-> (e_sem, e_sty); with head=True the pretext logits [B, num_labels] (the DDP training path)."""
        e_sem, e_sty = self.features(images)
        return self.head(e_sem) if head else (e_sem, e_sty)

    def encoder_state_dict(self) -> dict[str, torch.Tensor]:
        """Weights without the pretext head (what inference loads)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("head.")}


def normalize_images(batch_uint8: torch.Tensor) -> torch.Tensor:
    """[B, H, W, 3] uint8 -> [B, 3, H, W] float, ImageNet-normalised."""
    x = batch_uint8.permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std
