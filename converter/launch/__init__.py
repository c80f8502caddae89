"""The launch-file model (studies, series, instance entries, one per frame) and the URLs
in it, and its JSON encoding.
"""
