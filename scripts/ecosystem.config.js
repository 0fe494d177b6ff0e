// pm2 ecosystem for flock_subnet: a validator, a miner (one GPU, or every GPU of the machine
// through torchrun: flock-miner-multigpu), the hang watchdog, the auto-updater, and flock-serve
// (the competition's winner behind an OpenAI-compatible API, docs/serving.md).
//
//   FLOCK_NETUID=96 FLOCK_WALLET=validator FLOCK_HOTKEY=default \
//     pm2 start scripts/ecosystem.config.js --only flock-validator,flock-watchdog,flock-updater
//
// Settings come from environment variables read when pm2 loads this file:
//   FLOCK_NETUID, FLOCK_WALLET, FLOCK_HOTKEY, FLOCK_WALLET_PATH      -> --netuid, --wallet.*
//   FLOCK_NETWORK, FLOCK_CHAIN_ENDPOINT                              -> --subtensor.*
//   FLOCK_HUB_ENDPOINT, FLOCK_WANDB_PROJECT, FLOCK_WANDB_ENTITY      -> --hub.endpoint, --wandb.*
//   FLOCK_VALIDATOR_ARGS, FLOCK_MINER_ARGS                           extra flags, appended as given
//   FLOCK_MINER_GPUS (default "gpu": every visible GPU)              -> flock-miner-multigpu's torchrun --nproc-per-node
//   FLOCK_TORCHRUN (default: torchrun beside FLOCK_PYTHON)
//   FLOCK_SERVE_COMPETITION (default qwen05b) or FLOCK_SERVE_MODEL   -> serve's --competition or --model
//   FLOCK_SERVE_HOST, FLOCK_SERVE_PORT (default 127.0.0.1:8000), FLOCK_SERVE_ARGS  -> serve's --host, --port, extras
//   FLOCK_PYTHON (default .venv/bin/python), FLOCK_LOG_DIR (default .flock/logs),
//   FLOCK_HEARTBEAT_DIR (default .flock/heartbeat), FLOCK_WATCHDOG_LIMIT (seconds, default 1800),
//   FLOCK_UPDATE_INTERVAL (seconds, default 900), FLOCK_PM2 (pm2 executable for the helpers)
// Tokens (HF_TOKEN, WANDB_API_KEY) are inherited from the shell that runs `pm2 start`.
//
// Each neuron gets FLOCK_HEARTBEAT=<dir>/<name>.heartbeat; its main loop touches that file and the
// watchdog restarts the process when the file goes silent. Crashes are pm2's job: it restarts
// with an exponential backoff (2 s, growing x1.5 per crash up to 15 s).
'use strict';

const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const env = process.env;
const PYTHON = env.FLOCK_PYTHON || path.join(ROOT, '.venv', 'bin', 'python');
const LOGS = env.FLOCK_LOG_DIR || path.join(ROOT, '.flock', 'logs');
const HEARTBEATS = env.FLOCK_HEARTBEAT_DIR || path.join(ROOT, '.flock', 'heartbeat');
const TORCHRUN = env.FLOCK_TORCHRUN || path.join(path.dirname(PYTHON), 'torchrun');
// Seconds torchrun gives its ranks to save the training state after pm2's stop signal before it
// kills them; pm2's own kill_timeout for the launcher is longer.
const TORCHRUN_SHUTDOWN_S = 120;

// Split "a 'b c' d" into ["a", "b c", "d"] (single or double quotes; no escapes).
function splitArgs(text) {
  if (!text) return [];
  const out = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m;
  while ((m = re.exec(text)) !== null) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

// The flags every neuron understands, from the FLOCK_* variables that are set.
function neuronArgs() {
  const flags = [
    ['FLOCK_NETUID', '--netuid'],
    ['FLOCK_WALLET', '--wallet.name'],
    ['FLOCK_HOTKEY', '--wallet.hotkey'],
    ['FLOCK_WALLET_PATH', '--wallet.path'],
    ['FLOCK_NETWORK', '--subtensor.network'],
    ['FLOCK_CHAIN_ENDPOINT', '--subtensor.chain_endpoint'],
    ['FLOCK_HUB_ENDPOINT', '--hub.endpoint'],
    ['FLOCK_WANDB_PROJECT', '--wandb.project'],
    ['FLOCK_WANDB_ENTITY', '--wandb.entity'],
  ];
  const args = [];
  for (const [name, flag] of flags) if (env[name]) args.push(flag, env[name]);
  return args;
}

// One long-running Python process: restart policy, log files, heartbeat. Fields in `options`
// override the defaults (pm2's own names: kill_timeout, exp_backoff_restart_delay, ...).
function neuronApp({ name, script, args = [], env: extraEnv = {}, heartbeat = true, ...options }) {
  const appEnv = { PYTHONUNBUFFERED: '1', ...extraEnv };
  if (heartbeat && !appEnv.FLOCK_HEARTBEAT) appEnv.FLOCK_HEARTBEAT = path.join(HEARTBEATS, `${name}.heartbeat`);
  return {
    name,
    script,
    args,
    interpreter: PYTHON,
    cwd: ROOT,
    autorestart: true,
    exp_backoff_restart_delay: 2000,
    max_restarts: 1000,
    min_uptime: 60000, // ms: a shorter run counts as an unstable restart
    kill_timeout: 30000, // SIGINT first: a validator persists its state before it exits
    out_file: path.join(LOGS, `${name}.out.log`),
    error_file: path.join(LOGS, `${name}.err.log`),
    merge_logs: true,
    time: true,
    env: appEnv,
    ...options,
  };
}

// The flags of `neurons/serve.py`: what to serve, where to listen, and the chain and hub to follow.
function serveArgs() {
  const args = env.FLOCK_SERVE_MODEL
    ? ['--model', env.FLOCK_SERVE_MODEL]
    : ['--competition', env.FLOCK_SERVE_COMPETITION || 'qwen05b'];
  args.push('--host', env.FLOCK_SERVE_HOST || '127.0.0.1', '--port', env.FLOCK_SERVE_PORT || '8000');
  const flags = [
    ['FLOCK_NETUID', '--netuid'],
    ['FLOCK_NETWORK', '--subtensor.network'],
    ['FLOCK_CHAIN_ENDPOINT', '--subtensor.chain_endpoint'],
    ['FLOCK_HUB_ENDPOINT', '--hub.endpoint'],
  ];
  for (const [name, flag] of flags) if (env[name]) args.push(flag, env[name]);
  return [...args, ...splitArgs(env.FLOCK_SERVE_ARGS)];
}

const helperEnv = env.FLOCK_PM2 ? { FLOCK_PM2: env.FLOCK_PM2 } : {};

module.exports = {
  apps: [
    neuronApp({
      name: 'flock-validator',
      script: path.join(ROOT, 'neurons', 'validator.py'),
      args: [...neuronArgs(), ...splitArgs(env.FLOCK_VALIDATOR_ARGS)],
    }),
    neuronApp({
      name: 'flock-miner',
      script: path.join(ROOT, 'neurons', 'miner.py'),
      args: [...neuronArgs(), ...splitArgs(env.FLOCK_MINER_ARGS)],
    }),
    // The miner daemon on every GPU: torchrun starts one rank per GPU (DDP; add --parallel fsdp
    // to FLOCK_MINER_ARGS to shard a model whose full fine-tune does not fit one GPU). pm2's stop
    // signal goes to torchrun alone (treekill off: a rank signalled twice would stop without
    // saving), which passes it to the ranks: they finish the step, rank 0 saves the state, and a
    // restart resumes it.
    neuronApp({
      name: 'flock-miner-multigpu',
      script: TORCHRUN,
      interpreter: 'none',
      args: [
        '--standalone', '--nproc-per-node', env.FLOCK_MINER_GPUS || 'gpu',
        '--shutdown-timeout', String(TORCHRUN_SHUTDOWN_S),
        path.join(ROOT, 'neurons', 'miner.py'),
        ...neuronArgs(), ...splitArgs(env.FLOCK_MINER_ARGS),
      ],
      treekill: false,
      kill_timeout: (TORCHRUN_SHUTDOWN_S + 30) * 1000,
    }),
    neuronApp({
      name: 'flock-serve',
      script: path.join(ROOT, 'neurons', 'serve.py'),
      args: serveArgs(),
      heartbeat: false, // an HTTP server: pm2 restarts it when it crashes; /health tells whether it serves
    }),
    neuronApp({
      name: 'flock-watchdog',
      script: path.join(ROOT, 'scripts', 'watchdog.py'),
      args: ['--limit', env.FLOCK_WATCHDOG_LIMIT || '1800', '--interval', '30'],
      env: helperEnv,
      heartbeat: false,
    }),
    neuronApp({
      name: 'flock-updater',
      script: path.join(ROOT, 'scripts', 'auto_update.py'),
      args: ['--interval', env.FLOCK_UPDATE_INTERVAL || '900'],
      env: helperEnv,
      heartbeat: false,
    }),
  ],
  // The building blocks, for ecosystems of your own (e.g. two validators on one machine).
  neuronApp,
  neuronArgs,
  serveArgs,
  splitArgs,
  ROOT,
  PYTHON,
  LOGS,
  HEARTBEATS,
  TORCHRUN,
};
