"""Mutation testing of the checks: plausible platform defects planted in front of a target.

A reverse proxy (:mod:`.proxy`) sits in front of every HTTP endpoint of a target file
(:mod:`.targetfile`) and applies generic operators (:mod:`.operators`) to the answers; the
harness (:mod:`.harness`) runs the selected checks once through the proxy unchanged and once
per operator, and reports which operators each item detects (:mod:`.report`)::

    python -m pytest_sca.mutate --target sandbox -m chapter8 --json mutation.json
"""
