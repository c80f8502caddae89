"""Folder mode: Part 10 files' headers -> PS3.18 F.2 JSON -> the same mapper and model as
a snapshot.
"""
