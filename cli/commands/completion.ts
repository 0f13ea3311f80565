/**
 * `keyward completion bash|zsh`: prints a shell completion script built from the registered
 * commands (cli/completion.ts). Offline, and with no --json: the output is a script.
 * @module
 */
import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { bashCompletion, completionEntries, zshCompletion } from '../completion.js';

export default class CompletionCommand extends Command {
  static override paths = [['completion']];
  static override usage = Command.Usage({
    description: 'print a shell completion script (bash or zsh)',
    details:
      "Completes command paths (`keyward ke` → `key`), then each command's options, then file names. Load it in the current shell with `source <(keyward completion bash)`, or write it once to a file your shell reads (e.g. /etc/bash_completion.d/keyward).",
    examples: [
      ['bash, this shell', 'source <(keyward completion bash)'],
      ['zsh, every shell', 'keyward completion zsh > ~/.zsh/keyward-completion.zsh'],
    ],
  });

  shell = Option.String({ name: 'bash|zsh', validator: t.isEnum(['bash', 'zsh']) });

  async execute(): Promise<number> {
    const name = this.cli.binaryName;
    const entries = completionEntries(this.cli.definitions(), name);
    this.context.stdout.write(this.shell === 'bash' ? bashCompletion(entries, name) : zshCompletion(entries, name));
    return 0;
  }
}
