"""The snapshot run: selection and paging, the worker pool, the report, and the fetch of
palette tables a server's metadata leaves out.
"""
