"""Ray applications (Ray Data, Ray Train, Ray Serve), each runnable as `python -m ray_apps.<name>`."""
