"""Control: the probe-routed categorical steering loop, the steering methods compared side by
side (logit bias, global direction, random control, low-rank, ridge) and their sweeps.
"""
