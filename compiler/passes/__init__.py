"""Graph passes, one file each, each with one job."""
