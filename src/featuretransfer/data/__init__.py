"""Data sets: readers for IDX (Fashion-MNIST), CIFAR and image folders, the decoded-images file
for folders too large for memory, augmentation, and the registry of data sets by name.

Imports only `featuretransfer.specs` (never nets, study, run or report): a reader knows nothing of
models or studies.
"""
