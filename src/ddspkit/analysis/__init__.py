"""Reading recordings: pitch and loudness features, and the statistics of a data set."""
