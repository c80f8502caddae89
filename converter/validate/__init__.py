"""``validate``: is a launch file complete for OHIF? Structure, types, UIDs, urls, and OHIF's
required attributes per kind of object.
"""
