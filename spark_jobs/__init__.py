"""PySpark jobs: the sample-site generator and the raw-zone-to-Delta preprocessing.

Each job module has a `main()` usable by spark-submit; transformations are pure
DataFrame -> DataFrame functions; I/O stays at the edges.
"""
