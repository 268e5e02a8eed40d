"""Lanes: steps that run at the same time, each in its own git worktree and branch.

`merge` commits a lane's work and merges its branch back into the base branch (one at a
time, the plan never taken from the lane, verify run again on the merged result, the
base restored exactly when that fails). `run` schedules the lanes of `ralph run --all
--parallel N`.
"""
