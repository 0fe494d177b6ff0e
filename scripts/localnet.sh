#!/usr/bin/env bash
# A local subtensor for flock_subnet: start the node (docker), create and start a subnet, and
# fund, register and stake an owner, a validator and a miner with btcli. Safe to rerun: what
# already exists (container, wallets, subnet, registrations, stake) is reused.
#
#   bash scripts/localnet.sh                     set everything up (fast 0.25 s blocks)
#   bash scripts/localnet.sh --check             only check that docker and btcli are usable
#   bash scripts/localnet.sh --stop              stop and remove the node container
#
# Options:
#   --slow-blocks          12 s blocks, like mainnet (default: fast blocks, 48x quicker tempos)
#   --keep-commit-reveal   leave commit-reveal on (weights then appear only after a drand reveal,
#                          which needs internet access from the container)
# Environment:
#   FLOCK_LOCALNET_IMAGE     default ghcr.io/opentensor/subtensor-localnet:devnet-ready
#   FLOCK_LOCALNET_CONTAINER default flock_localnet
#   FLOCK_LOCALNET_PORT      default 9944 (the node's websocket)
#   FLOCK_LOCALNET_DIR       default .flock/localnet (wallets live in <dir>/wallets)
#   FLOCK_VALIDATOR_STAKE    TAO the validator stakes on itself (default 100)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="${FLOCK_LOCALNET_IMAGE:-ghcr.io/opentensor/subtensor-localnet:devnet-ready}"
container="${FLOCK_LOCALNET_CONTAINER:-flock_localnet}"
port="${FLOCK_LOCALNET_PORT:-9944}"
dir="${FLOCK_LOCALNET_DIR:-$root/.flock/localnet}"
wallets="$dir/wallets"
endpoint="ws://127.0.0.1:$port"
stake_tao="${FLOCK_VALIDATOR_STAKE:-100}"
python="${FLOCK_PYTHON:-$root/.venv/bin/python}"
btcli="${BTCLI:-$root/.venv/bin/btcli}"
alice_seed="0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a" # //Alice, sudo on localnets

mode=setup
slow_blocks=""
keep_commit_reveal=0
for arg in "$@"; do
  case "$arg" in
    --check) mode=check ;;
    --stop) mode=stop ;;
    --slow-blocks) slow_blocks="False" ;;
    --keep-commit-reveal) keep_commit_reveal=1 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "[localnet] unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "[localnet] $*"; }
die() { echo "[localnet] error: $*" >&2; exit 1; }

check_tools() {
  command -v docker >/dev/null 2>&1 || die "docker is not installed. Install Docker Engine \
(https://docs.docker.com/engine/install/), start it, then rerun this script."
  docker info >/dev/null 2>&1 || die "the Docker engine is not running or not reachable (\`docker info\` failed). \
Start it (\`sudo systemctl start docker\`, or open Docker Desktop) and make sure your user may use it \
(\`sudo usermod -aG docker \$USER\`, then log in again)."
  [ -x "$python" ] || die "no Python environment at $python; run \`bash scripts/bootstrap.sh\` first."
  if [ ! -x "$btcli" ]; then
    btcli="$(command -v btcli || true)"
    [ -n "$btcli" ] || die "btcli not found; run \`bash scripts/bootstrap.sh\` (bittensor 11 ships it in .venv/bin)."
  fi
}

if [ "$mode" = stop ]; then
  command -v docker >/dev/null 2>&1 || die "docker is not installed; there is no node to stop."
  docker rm -f "$container" >/dev/null 2>&1 && say "stopped $container" || say "no container named $container"
  exit 0
fi

check_tools
if [ "$mode" = check ]; then
  say "docker and btcli are ready ($(docker --version)); $("$btcli" --version 2>/dev/null || echo btcli)"
  exit 0
fi

mkdir -p "$wallets"
export BTCLI_TOKEN_SYMBOLS_CACHE="$dir/btcli_token_symbols.json"
look() { "$python" -m flock_subnet.chain.subtensor_localnet "$@"; }
bt() { "$btcli" "$@" -n "$endpoint" --wallet-path "$wallets" -y; }

# 1. the node
if [ -n "$(docker ps -q -f "name=^/${container}$")" ]; then
  say "reusing the running node $container"
else
  say "starting $image as $container on port $port"
  docker rm -f "$container" >/dev/null 2>&1 || true
  docker run -d --rm --name "$container" -p "$port:9944" -p "$((port + 1)):9945" "$image" $slow_blocks >/dev/null
fi
say "waiting for blocks at $endpoint"
look wait "$endpoint" --timeout 300 >/dev/null

# 2. wallets: //Alice (funds) and three unencrypted test wallets
if [ ! -f "$wallets/alice/coldkeypub.txt" ]; then
  "$btcli" wallet regen-coldkey -w alice --seed "$alice_seed" --no-password --wallet-path "$wallets" >/dev/null
fi
for name in owner validator miner; do
  if [ ! -f "$wallets/$name/hotkeys/default" ]; then
    "$btcli" wallet create -w "$name" -H default --no-password --wallet-path "$wallets" --json >/dev/null
  fi
done
coldkey() { look ss58 "$wallets" "$1" coldkey; }
hotkey() { look ss58 "$wallets" "$1" hotkey; }

# 3. the subnet (the first one created on a localnet is netuid 2)
netuid="$(look netuid "$endpoint" "$(coldkey owner)")"
if [ -z "$netuid" ]; then
  say "funding owner, validator and miner from //Alice"
  bt tx transfer --dest "$(coldkey owner)" --amount-tao 2000 -w alice
  bt tx transfer --dest "$(coldkey validator)" --amount-tao 500 -w alice
  bt tx transfer --dest "$(coldkey miner)" --amount-tao 100 -w alice
  say "creating the subnet"
  bt subnets create -w owner -H default
  netuid="$(look netuid "$endpoint" "$(coldkey owner)")"
  [ -n "$netuid" ] || die "the subnet was not created; see the btcli output above"
  bt sudo start --netuid "$netuid" -w owner || say "start_call not accepted yet (check: btcli sudo check-start --netuid $netuid -n $endpoint)"
fi
say "subnet $netuid is owned by $(coldkey owner)"

# 4. registrations (burned; the raw call is the fallback when MEV-shield keys are not available)
for name in validator miner; do
  if [ -z "$(look uid "$endpoint" "$netuid" "$(hotkey "$name")")" ]; then
    say "registering $name"
    bt subnets register --netuid "$netuid" -w "$name" -H default \
      || bt call SubtensorModule.burned_register --args "{\"netuid\": $netuid, \"hotkey\": \"$(hotkey "$name")\"}" -w "$name"
  fi
  [ -n "$(look uid "$endpoint" "$netuid" "$(hotkey "$name")")" ] || die "$name is not registered on subnet $netuid"
done

# 5. the validator's stake (a validator permit follows at the next epoch)
if [ "$(look stake "$endpoint" "$netuid" "$(hotkey validator)")" = "0" ]; then
  say "staking $stake_tao TAO on the validator"
  bt stake add --netuid "$netuid" --hotkey "$(hotkey validator)" --amount-tao "$stake_tao" -w validator
fi

# 6. commit-reveal off: drand reveals need internet, which an offline localnet does not have
if [ "$keep_commit_reveal" = 0 ]; then
  bt sudo set --netuid "$netuid" --name commit_reveal_weights_enabled --value false -w owner \
    || say "could not turn commit-reveal off now (near an epoch boundary?); rerun this script"
fi

cat <<EOF

[localnet] ready: node $endpoint, subnet $netuid, wallets in $wallets

  # a local hub for the checkpoints (or use https://huggingface.co with HF_TOKEN)
  .venv/bin/flock-subnet hub serve --port 8765 --token miner=miner-token --token validator=validator-token

  # a validator
  .venv/bin/python neurons/validator.py --netuid $netuid --subtensor.network local \\
      --subtensor.chain_endpoint $endpoint --wallet.path $wallets --wallet.name validator \\
      --wallet.hotkey default --hub.endpoint http://127.0.0.1:8765 --hub.token validator-token \\
      --competitions local

  # a miner
  .venv/bin/python neurons/miner.py --netuid $netuid --subtensor.network local \\
      --subtensor.chain_endpoint $endpoint --wallet.path $wallets --wallet.name miner \\
      --wallet.hotkey default --hub.endpoint http://127.0.0.1:8765 --hub.token miner-token \\
      --competition local --repo miner/tiny-sft --max-seconds 300

  # the end-to-end tests of the subtensor adapter
  FLOCK_E2E_ENDPOINT=$endpoint FLOCK_E2E_NETUID=$netuid FLOCK_E2E_WALLET_PATH=$wallets \\
      .venv/bin/python -m pytest tests/chain -m e2e -q
EOF
