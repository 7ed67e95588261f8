#!/usr/bin/env python3
"""Export an attribute classifier in the form plugen's AttributeClassifier loads, with its column mapping.

plugen calls, with no Python at run time:
  forward(x) -> scores     x (N, C, H, W) in [0, 1] (the backbone's decoded images; another range:
                           ClassifierOptions::input_range); scores (N, W): logits of binary and categorical
                           attributes, values of continuous ones
  input_shape              a list-of-int attribute, e.g. [1, 28, 28] (or pass ClassifierOptions::input_shape)
Which columns belong to which attribute is plugen configuration, not part of the module: this script writes
it next to the model as OUT.json, a list of {"name", "kind": binary|categorical|continuous, "columns",
"classes"?} that converts to std::vector<plugen::ClassifierAttribute> with nlohmann::json.

Usage: python3 classifier.py OUT.pt        (also writes OUT.json)
"""
import json
import sys
from typing import List

import torch
from torch import nn

CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


class Classifier(nn.Module):
    """Stand-in for your trained classifier: 10 class logits, a binary 'bright' logit, a continuous 'ink' value."""

    input_shape: List[int]

    def __init__(self):
        super().__init__()
        self.input_shape = [1, 28, 28]
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(), nn.Flatten())
        self.head = nn.Linear(32 * 7 * 7, len(CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.features(x))
        ink = x.mean(dim=(1, 2, 3))
        bright = 10.0 * (ink - 0.5)
        return torch.cat([logits, bright.unsqueeze(1), ink.unsqueeze(1)], dim=1)  # (N, 12)


ATTRIBUTES = [
    {"name": "class", "kind": "categorical", "columns": list(range(10)), "classes": CLASSES},
    {"name": "bright", "kind": "binary", "columns": [10]},
    {"name": "ink", "kind": "continuous", "columns": [11]},
]


def export(path: str) -> None:
    torch.manual_seed(0)
    model = Classifier().eval()  # load your trained weights here
    torch.jit.script(model).save(path)
    with open(path.rsplit(".", 1)[0] + ".json", "w") as f:
        json.dump(ATTRIBUTES, f, indent=2)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 classifier.py OUT.pt")
    export(sys.argv[1])
    print(f"wrote {sys.argv[1]} and its column mapping")
