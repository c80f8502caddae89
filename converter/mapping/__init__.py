"""PS3.18 F.2 JSON -> OHIF's keyword JSON (the mapper, pure: no I/O) and the rules it
needs: the data dictionary, VR values, palette tables, checks across a study's answers.
"""
