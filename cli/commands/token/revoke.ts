import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base.js';

export default class TokenRevokeCommand extends BaseCommand {
  static override paths = [['token', 'revoke']];
  static override usage = Command.Usage({ category: 'Tokens', description: 'revoke a token by its id (tok_…)', examples: [['Revoke', 'keyward token revoke tok_0123456789abcdef']] });

  id = Option.String({ required: true });

  async run(): Promise<number> {
    const r = await this.client().request<{ tokenId: string }>('DELETE', `/v1/auth/tokens/${encodeURIComponent(this.id)}`);
    this.print(r, `Revoked ${r.tokenId}.`);
    return 0;
  }
}
