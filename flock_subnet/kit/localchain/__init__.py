"""The local chain: subtensor's rules for the calls the subnet makes, in one SQLite file.

`chain.LocalChain` implements the `Chain` port (its reads in `reads`); every write is signed with
a real bittensor key and verified (`signing`); `rules` holds the chain's limits, `ops` the state
changes, `epoch` runs Yuma Consensus every tempo, `root` the root network's stake and dividends,
`market` the alpha pool and burn, `views` builds the port's read models, `clock` moves blocks,
`blockhash` derives block hashes from a key kept outside the chain file, `store` holds the tables.
"""
