
const usage = `usage: zkts <command> [args]

commands:
  server <zoo.cfg> [--from-env] [--log-level L]   run one server (standalone, or an ensemble member);
                            --from-env writes a missing zoo.cfg and myid from ZOO_* variables
  cluster up|status|kill|pause|partition|net|expire|down ...
                            a local ensemble to break on purpose (zkts cluster --help)
  shell [hosts] [-- cmd]    interactive shell (zkCli-like), or run one command and exit;
                            over TLS with --tls-ca F [--tls-cert F --tls-key F]
  purge <dataDir> [dataLogDir] [-n N]   keep the N newest snapshots (>= 3) and the logs they need
  4lw <word> [host:port] [--expect A]   send a four-letter word (srvr, ruok, mntr, ...) and print
                            the answer; with --expect, exit 1 unless the answer is A; TLS flags as shell's
  bench <workload> [options]   load a server or ensemble and measure it (zkts bench --help)
  fuzz --target client|peer [--cases N] [--seed S] ...   fuzz a server's ports (zkts fuzz --help)
`;

/** The `zkts` command's dispatcher: argv and env are read here and nowhere deeper. */
export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    // Each command loads only its own modules: a server restarting after a crash does not
    // wait for the client and the shell to load.
    case 'server':
      return (await import('./server.js')).runServer(rest, env);
    case 'cluster':
      return (await import('./cluster.js')).runCluster(rest, env);
    case 'shell':
      return (await import('../client/shell/index.js')).runShell(rest);
    case 'purge':
      return (await import('./purge.js')).runPurge(rest);
    case '4lw':
      return (await import('./four-letter-word.js')).runFourLetterWord(rest);
    case 'bench':
      return (await import('./bench.js')).runBenchCommand(rest);
    case 'fuzz':
      return (await import('./fuzz.js')).runFuzz(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(usage);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`zkts: unknown command '${command}'\n${usage}`);
      return 2;
  }
}
