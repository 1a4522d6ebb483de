#!/usr/bin/python3
"""Convert Fashion-MNIST IDX files (Debian's dataset-fashion-mnist) to .npy for entk.

Usage: fashion_mnist.py OUTDIR [N_TRAIN N_TEST] [--src DIR]
Writes OUTDIR/{train,test}_{x,y}.npy: images uint8 N x 1 x 28 x 28, labels uint8 N. The first N of
each split are taken (the files are already shuffled). Scripts only: entk itself never needs numpy.
"""
import gzip, os, sys
import numpy as np

def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    if (magic >> 8) != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)

def main():
    args = [a for a in sys.argv[1:]]
    src = "/usr/share/datasets/fashion-mnist"
    if "--src" in args:
        i = args.index("--src"); src = args[i + 1]; del args[i:i + 2]
    if not args:
        raise SystemExit(__doc__)
    out = args[0]
    n_train = int(args[1]) if len(args) > 1 else 60000
    n_test = int(args[2]) if len(args) > 2 else 10000
    os.makedirs(out, exist_ok=True)
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        x = read_idx(os.path.join(src, f"{prefix}-images-idx3-ubyte.gz"))[:n]
        y = read_idx(os.path.join(src, f"{prefix}-labels-idx1-ubyte.gz"))[:n]
        np.save(os.path.join(out, f"{split}_x.npy"), np.ascontiguousarray(x.reshape(-1, 1, 28, 28)))
        np.save(os.path.join(out, f"{split}_y.npy"), np.ascontiguousarray(y))
        print(f"{split}: {x.shape[0]} images -> {out}")

if __name__ == "__main__":
    main()
