"""`make bench`: the figures of issue 8, each beside the raw broker measured in the same run."""
