"""scikit-learn's multinomial logistic regression on the small dataset that
ae-core/src/eval/probe.rs's `matches_scikit_learn` test holds as literals.

python3 -m venv /tmp/skl && /tmp/skl/bin/pip install scikit-learn numpy
/tmp/skl/bin/python bench/probe_reference.py
(printed with scikit-learn 1.9.1, numpy 2.4.6)

aelab's loss is mean cross-entropy + (l2 / 2) |W|^2; sklearn's is C * summed cross-entropy
+ |W|^2 / 2, the same minimiser when C = 1 / (n * l2). Both leave the intercept unpenalised.
"""

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

N, L2 = 60, 0.01

rng = np.random.RandomState(0)
labels = np.arange(N) % 3
centres = np.array([[0.0, 0.0, 0.0], [1.5, 0.5, 0.0], [0.0, 1.5, -0.5]])
# Overlapping classes on unequal scales, rounded so the literals are exact.
x = np.round((centres[labels] + rng.randn(N, 3)) * [1.0, 3.0, 0.2] + [0.0, 5.0, -1.0], 3)

xs = StandardScaler().fit_transform(x)
clf = LogisticRegression(C=1 / (N * L2), solver="lbfgs", tol=1e-10, max_iter=10000)
clf.fit(xs, labels)

print("const X: [[f32; 3]; 60] = [")
for row in x:
    print("    [" + ", ".join(f"{v:.3f}" for v in row) + "],")
print("];")
print("const Y: [u32; 60] = [" + ", ".join(str(v) for v in labels) + "];")
print(f"// W[d][k] = coef_.T: {clf.coef_.T.tolist()!r}")
print(f"// intercept_: {clf.intercept_.tolist()!r}")
print(f"// training accuracy: {clf.score(xs, labels)!r}")
