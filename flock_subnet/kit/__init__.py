"""The rehearsal kit: everything a whole subnet needs on one machine with no network, and nothing
a production neuron runs.

- `localchain/`: a file-backed chain with subtensor's rules for the calls the subnet makes,
  real signatures, and Yuma Consensus every tempo
- `localhub/`: a Hugging Face Hub-compatible HTTP server the real `huggingface_hub` client talks to
- `demo/`: a whole competition (chain, hub, miners, validators, delegators) and its report

The kit may import anything in `flock_subnet`; production code never imports the kit.
"""
