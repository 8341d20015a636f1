"""Label propagation: the encoder pipeline, the windowed k-NN core, protocols, sweeps, keypoints."""
