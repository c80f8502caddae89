"""The DICOMweb source: QIDO-RS searches and WADO-RS metadata (PS3.18 10.4, 10.6), its
sessions, retries and answers. Data flows source -> mapping -> launch -> output.
"""
