"""Training between sessions: the person's measured physiology, readiness, load and plans.

Everything here is a pure function over data: the store is read by `commands`, and every
recommendation carries the measurements it rests on (`basis`) so that "why?" has an answer.
Nothing here diagnoses anything; it stays inside published exercise guidelines.
"""
