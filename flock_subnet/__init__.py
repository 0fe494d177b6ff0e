"""flock_subnet: a Bittensor subnet where miners fine-tune small language models and validators
score them on hidden data."""

__version__ = "0.1.0"

# The subnet's own weights version: validators pass it as `version_key`, and the subnet owner
# raises the chain's `weights_version` hyperparameter to force upgrades.
SPEC_VERSION = 1_000
