"""The parts of the validator round: planning, admission and downloads, evaluation, faults, weights, reports.

`flock_subnet.validator.service.Validator` puts them together; each module here has one job.
"""
