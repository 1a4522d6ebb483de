# tests/test_install.c: the installed Python module (PREFIX/lib/python3/dist-packages on PYTHONPATH)
# loads the installed libentk.so and prints hello.c's Gram, one "K T" pair of float.hex values per line,
# then the library it loaded.
import entk

x = [[1, 0, 0], [0.6, 0.8, 0], [-0.3, 0.2, 1.7]]
K, T = entk.kernel("dense(sw=1.5,sb=0.1) relu dense", x, x, threads=2)
for k, t in zip(K.ravel(), T.ravel()):
    print(float(k).hex(), float(t).hex())
print(entk.library_path)
