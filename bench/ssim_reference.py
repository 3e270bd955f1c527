"""skimage's SSIM of the patterned image pairs in ae-core/src/eval/ssim.rs's tests.

python3 -m venv /tmp/skl && /tmp/skl/bin/pip install scikit-image numpy
/tmp/skl/bin/python bench/ssim_reference.py
(printed with scikit-image 0.26.0, scipy 1.17.1, numpy 2.4.6)
"""

import numpy as np
from skimage.metrics import structural_similarity


def pair(c, h, w):
    """The same integer patterns as the Rust test's `pattern_pair`."""
    ch, i, j = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    return ((i * 7 + j * 13 + ch * 5) % 17) / 16, ((i * i + 3 * j + ch) % 11) / 10


for c, h, w in [(1, 28, 28), (1, 16, 20), (3, 16, 20)]:
    x, y = pair(c, h, w)
    for name, other in [("pattern", y), ("contrast", 0.8 * x + 0.1)]:
        s = structural_similarity(
            x,
            other,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1,
            channel_axis=0,
        )
        print(f"(({c}, {h}, {w}), {name}): {float(s)!r}")
