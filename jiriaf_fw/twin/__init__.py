"""The digital twin of a stream queue: a dynamic Bayesian network over discrete load states, in numpy.

Everything here is pure: models are data (arrays loaded from files by the caller), and the filter,
predictor, smoother and policies are functions over arrays. No I/O, no plotting, no clock.
"""
