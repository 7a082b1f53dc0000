"""
Reduce: a 2-D map of the digits
===============================

A :class:`~aekit.Reducer` learns an 8-dimensional code for each 8x8 digit image; its
:meth:`~aekit.Reducer.transform` gives the codes and ``inverse_transform`` the images they decode to.
Here the codes of the held-out digits feed a logistic regression (how much of the class the code keeps),
and a second reducer with a 2-D code draws the digits on a plane.
"""
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from aekit import Reducer

X, y = load_digits(return_X_y=True)          # (1797, 64), pixel values 0..16
X_train, X_test, y_train, y_test = X[:1200], X[1200:], y[:1200], y[1200:]

reducer = Reducer(latent_dim=8, epochs=20, batch_size=64).fit(X_train)
codes = reducer.transform(X_test)            # (597, 8)
clf = LogisticRegression(max_iter=2000).fit(reducer.transform(X_train), y_train)
print(f"codes {codes.shape}; accuracy of a linear classifier on them: {clf.score(codes, y_test):.3f}")

# %%
# Reconstructions: the top row is the input, the bottom row what its 8 numbers decode to.
recon = reducer.inverse_transform(codes[:8])
fig, axes = plt.subplots(2, 8, figsize=(8, 2.2))
for i in range(8):
    axes[0, i].imshow(X_test[i].reshape(8, 8), cmap="gray_r")
    axes[1, i].imshow(recon[i].reshape(8, 8), cmap="gray_r")
for ax in axes.ravel():
    ax.set_axis_off()
fig.suptitle("digits (top) and their reconstructions from 8 numbers (bottom)")

# %%
# A 2-D code, drawn coloured by the digit it came from (the labels never train anything).
flat = Reducer(latent_dim=2, epochs=30, batch_size=64).fit(X_train).transform(X_test)
fig, ax = plt.subplots(figsize=(5, 4.5))
points = ax.scatter(flat[:, 0], flat[:, 1], c=y_test, cmap="tab10", s=10)
fig.colorbar(points, ax=ax, label="digit")
# sphinx_gallery_thumbnail_number = 2
ax.set_title("2-D autoencoder codes of the held-out digits")
fig.tight_layout()
plt.show()
