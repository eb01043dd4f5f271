"""Reading recordings: pitch and loudness features, the statistics of a data set, and how each
note is played (expression)."""
