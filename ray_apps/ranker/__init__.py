"""Ranker stage: the data a ranker trains on (`data`), the per-worker loop (`loop`), the Ray Train job
(`job`), comparisons of many runs (`compare`) and their report (`report`)."""
