"""ResNet-18 and MobileNetV2 with torchvision's architectures (random weights; BatchNorm running
statistics randomized so folding them into the convolutions is exercised). Input "input"
F32 [batch, 3, 224, 224], output "logits" F32 [batch, 1000].
"""
from __future__ import annotations

import torch
import torch.nn as nn


def conv_bn(i, o, k, stride=1, groups=1, relu=None):
    layers = [nn.Conv2d(i, o, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(o)]
    return nn.Sequential(*layers, *([relu()] if relu else []))


class BasicBlock(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.body = nn.Sequential(conv_bn(i, o, 3, stride, relu=nn.ReLU), conv_bn(o, o, 3))
        self.skip = conv_bn(i, o, 1, stride) if stride != 1 or i != o else nn.Identity()

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


class InvertedResidual(nn.Module):
    def __init__(self, i, o, stride, expand):
        super().__init__()
        hidden = i * expand
        layers = [conv_bn(i, hidden, 1, relu=nn.ReLU6)] if expand != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden, relu=nn.ReLU6), conv_bn(hidden, o, 1)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and i == o

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def _randomize_batchnorm(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def resnet18(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    widths, blocks = [64, 64, 128, 256, 512], []
    for stage in range(4):
        blocks += [BasicBlock(widths[stage], widths[stage + 1], 1 if stage == 0 else 2),
                   BasicBlock(widths[stage + 1], widths[stage + 1], 1)]
    return _randomize_batchnorm(nn.Sequential(conv_bn(3, 64, 7, 2, relu=nn.ReLU), nn.MaxPool2d(3, 2, 1), *blocks,
                                              nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000)))


def mobilenet_v2(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    layers, channels = [conv_bn(3, 32, 3, 2, relu=nn.ReLU6)], 32
    for expand, out, repeats, stride in settings:
        for r in range(repeats):
            layers.append(InvertedResidual(channels, out, stride if r == 0 else 1, expand))
            channels = out
    layers += [conv_bn(channels, 1280, 1, relu=nn.ReLU6), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, 1000)]
    return _randomize_batchnorm(nn.Sequential(*layers))


def example_input(batch: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, 224, 224)
