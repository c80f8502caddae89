"""``serve``: launch files, the OHIF Viewer build and a reverse proxy on one loopback origin."""
