"""Dataset access levels, grants and teams."""
