"""Where launch files go: one file or a folder of per-study files (local or fsspec), written
atomically.
"""
