"""
An ordered code, read like PCA
==============================

``Reducer(ordered=True)`` trains with the ``"ordered-mse"`` objective: every prefix of the code (its first
``k`` values) must reconstruct the data on its own, so the code's values come in order of importance, as
PCA's components do. One model then serves every code size: ``transform(X, n_components=k)`` and
``reconstruct(X, n_components=k)`` read its first ``k`` values without retraining, and
``reconstruction_curve`` gives the error at each size. Here the curve on scikit-learn's digits is drawn
beside PCA's: in this run (40 epochs) the ordered code reconstructs better than PCA with up to 8 values, and
PCA better with all 16.
"""
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from aekit import Reducer

X = load_digits().data                                 # (1797, 64), values 0..16
train, test = X[:1400], X[1400:]
reducer = Reducer(latent_dim=16, ordered=True, epochs=40, batch_size=64).fit(train)
curve = reducer.reconstruction_curve(test)             # k = 1, 2, 4, 8, 16


def pca_error(k):
    """Test MSE of PCA with k components fitted on the training digits."""
    pca = PCA(k).fit(train)
    return float(np.mean((pca.inverse_transform(pca.transform(test)) - test) ** 2))


pca = [pca_error(k) for k in curve["k"]]
for k, mse, base in zip(curve["k"], curve["mse"], pca):
    print(f"first {k:2d} values: MSE {mse:6.2f}   PCA-{k}: {base:6.2f}")
print("codes of 2 values:", reducer.transform(test, n_components=2).shape)

# %%
# The reconstruction error against the code size, and a test digit reconstructed
# from the first 1, 2, 4, 8 and 16 values of one code.
fig = plt.figure(figsize=(9, 3.2))
grid = fig.add_gridspec(2, 6, width_ratios=[6, 1, 1, 1, 1, 1])
ax = fig.add_subplot(grid[:, 0])
ax.plot(curve["k"], curve["mse"], marker="o", label="ordered autoencoder")
ax.plot(curve["k"], pca, marker="s", label="PCA")
ax.set_xscale("log", base=2)
ax.set_xlabel("code size k (first k values)")
ax.set_ylabel("test MSE (raw units)")
ax.legend()
ax = fig.add_subplot(grid[0, 1])
ax.imshow(test[:1].reshape(8, 8), cmap="gray_r")
ax.set_title("digit", fontsize=8)
ax.set_axis_off()
for i, k in enumerate(curve["k"]):
    ax = fig.add_subplot(grid[1, 1 + i])
    ax.imshow(reducer.reconstruct(test[:1], n_components=k).reshape(8, 8), cmap="gray_r")
    ax.set_title(f"k={k}", fontsize=8)
    ax.set_axis_off()
fig.tight_layout()
plt.show()
