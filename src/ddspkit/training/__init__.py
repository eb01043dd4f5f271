"""Training: data sets, the trainer, and where a training starts.

(Named ``training``, not ``train``: ``ddspkit.train`` is the API function.)
"""
