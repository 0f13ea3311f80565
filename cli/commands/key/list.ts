import { Command, Option } from 'clipanion';
import { RemoteCommand, wholeNumber } from '../../base.js';
import { done } from '../../http.js';

export default class KeyListCommand extends RemoteCommand {
  static override paths = [['key', 'list']];
  static override usage = Command.Usage({
    category: 'Keys',
    description: 'list keys by name, a page at a time; keys scheduled for deletion are marked',
    examples: [['List', 'keyward key list --limit 50']],
  });

  limit = Option.String('--limit', '100', { description: 'Page size (1..1000)', validator: wholeNumber(1, 1000) });
  after = Option.String('--after', { description: 'Start after this name (the previous page\'s "next")' });

  async run(): Promise<number> {
    const query = { limit: this.limit, ...(this.after ? { after: this.after } : {}) };
    const r = done(await this.client().get('/v1/keys', { params: { query } }));
    const line = (k: (typeof r.keys)[number]) =>
      `${k.name}  ${k.type}  v${k.latestVersion}${k.deleteAfter ? `  DELETION SCHEDULED (purged after ${k.deleteAfter})` : ''}`;
    this.print(
      r,
      () => [...r.keys.map(line), ...(r.next ? [`(more: --after ${r.next})`] : [])].join('\n') || 'No keys.',
    );
    return 0;
  }
}
