// The `keyward` of test/helpers/cli-socket.ts: sends its arguments, working directory, environment
// and stdin to the test process's socket (the first argument), which runs the command with the CLI
// in that process; writes what it answers to stdout and stderr and exits with its code. Plain
// JavaScript with only node:net: it starts in about a fifth of the CPU the CLI takes to start.
import { connect } from 'node:net';

const [socket, ...args] = process.argv.slice(2);
// stdin only for a command that reads it (an argument `-`, as `--in -`): the shell's stdin may be a
// pipe nobody closes. Any other command sees an empty stdin, not a terminal (no passphrase prompt).
const stdin = [];
if (args.includes('-')) for await (const chunk of process.stdin) stdin.push(chunk);
const request = JSON.stringify({
  args,
  cwd: process.cwd(),
  env: process.env,
  stdin: Buffer.concat(stdin).toString('base64'),
});
const reply = [];
const conn = connect(socket);
conn.on('data', (d) => reply.push(d));
conn.on('error', (err) => {
  process.stderr.write(`keyward (test shim): ${err.message}\n`);
  process.exit(70);
});
conn.on('end', () => {
  const { code, stdout, stderr } = JSON.parse(Buffer.concat(reply).toString('utf8'));
  process.stdout.write(stdout);
  process.stderr.write(stderr);
  process.exitCode = code;
});
conn.end(request);
