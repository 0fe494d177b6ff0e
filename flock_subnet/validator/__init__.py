"""The parts of the validator round: planning, admission and downloads, evaluation, the held/zero
verdict, scoring the round, faults, weights and reports.

`flock_subnet.validator.service.Validator` runs them as a pipeline (`validator.pipeline` holds
the data passed between the steps); each module here has one job.
"""
