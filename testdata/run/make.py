#!/usr/bin/python3
# make.py - the model and datasets of tests/cli/run.sh (helper exec):
#   tiny.qbc         a torch QAT model (prepare_qat_fx, fbgemm qconfig) exported
#                    by scripts/qdb_torch.py: conv-bn-relu, depthwise conv + relu6,
#                    1x1 conv, maxpool (ceil_mode), add, global pool, linear
#   tiny.qds         8 samples 1x3x16x16 with class labels (10 classes)
#   tiny_nolabel.qds the same inputs without labels
#   tiny_qat_pt.qtr  torch's own QAT forward on tiny.qds (every layer)
# Regenerate from the top of the tree: /usr/bin/python3 testdata/run/make.py
import os
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import qdb_torch  # noqa: E402
from torch.ao.quantization import get_default_qat_qconfig_mapping  # noqa: E402
from torch.ao.quantization.quantize_fx import prepare_qat_fx  # noqa: E402


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.b1 = nn.BatchNorm2d(16)
        self.r1 = nn.ReLU()
        self.dw = nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16)
        self.r2 = nn.ReLU6()
        self.c2 = nn.Conv2d(16, 24, 1)
        self.mp = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(24, 10)

    def forward(self, x):
        x = self.r1(self.b1(self.c1(x)))
        y = self.c2(self.r2(self.dw(x)))
        y = self.mp(y)
        y = y + y
        return self.fc(self.pool(y).flatten(1))


def main():
    torch.manual_seed(1)
    np.random.seed(1)
    m = Tiny().train()
    ex = torch.randn(1, 3, 16, 16)
    p = prepare_qat_fx(m, get_default_qat_qconfig_mapping("fbgemm"), (ex,))
    for _ in range(30):
        p(torch.randn(8, 3, 16, 16))
    qdb_torch.pin_qparams(p)
    p.apply(torch.ao.quantization.disable_observer)
    p.eval()
    qdb_torch.export(p, (ex,), os.path.join(HERE, "tiny.qbc"), name="tiny", quiet=True)
    x = torch.randn(8, 3, 16, 16)
    labels = np.array([int(v) for v in p(x).argmax(1)])
    labels[::4] = (labels[::4] + 1) % 10  # some wrong, so accuracy is not trivially 1
    qdb_torch.write_dataset(os.path.join(HERE, "tiny.qds"), x, labels=labels, name="tiny")
    qdb_torch.write_dataset(os.path.join(HERE, "tiny_nolabel.qds"), x, name="tiny_nolabel")
    qdb_torch.dump_trace(p, os.path.join(HERE, "tiny.qds"), os.path.join(HERE, "tiny_qat_pt.qtr"),
                         model_name="tiny")


if __name__ == "__main__":
    main()
