"""Numeric helpers of the compiler (not passes): BatchNorm folding, exact absorption of float ops into an integer
accumulator, integer thresholds of a float path, and the integer range rules of every op."""
