"""Imported first by the fork server of `isolated.py`, and only there: the server dies with
its worker, and so do the runs it forked (each dies with the server).

Why an import: the fork server runs no code of ours but the modules it preloads. Without
this, a SIGKILLed worker leaves its fork server waiting for the runs, and the runs go on to
publish what the job's retry publishes again.
"""

from bot.service.isolated import die_with_parent

die_with_parent()
