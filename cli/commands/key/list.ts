import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base.js';

export default class KeyListCommand extends BaseCommand {
  static override paths = [['key', 'list']];
  static override usage = Command.Usage({ category: 'Keys', description: 'list keys by name, a page at a time; keys scheduled for deletion are marked', examples: [['List', 'keyward key list --limit 50']] });

  limit = Option.String('--limit', '100', { description: 'Page size (1..1000)' });
  after = Option.String('--after', { description: 'Start after this name (the previous page\'s "next")' });

  async run(): Promise<number> {
    const q = new URLSearchParams({ limit: this.limit, ...(this.after ? { after: this.after } : {}) });
    const r = await this.client().get<{ keys: Array<{ name: string; type: string; latestVersion: number; deleteAfter?: string | null }>; next: string | null }>(`/v1/keys?${q}`);
    const line = (k: (typeof r.keys)[number]) => `${k.name}  ${k.type}  v${k.latestVersion}${k.deleteAfter ? `  DELETION SCHEDULED (purged after ${k.deleteAfter})` : ''}`;
    this.print(r, () => [...r.keys.map(line), ...(r.next ? [`(more: --after ${r.next})`] : [])].join('\n') || 'No keys.');
    return 0;
  }
}
