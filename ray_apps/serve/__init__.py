"""Serving stage: online features (`features`), the offline-built retrieval index (`retrieval`) and the
Ray Serve deployment (`app`)."""
