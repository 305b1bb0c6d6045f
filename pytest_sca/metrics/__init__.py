"""Pure calculators of chapter 9's figures: FLOPs, MFU/HFU, speedup, jitter, bus bandwidth.

No I/O and no pytest here: every function takes numbers and returns numbers, and
is tested against worked examples from the published sources it cites
(``tests/metrics/``).
"""
