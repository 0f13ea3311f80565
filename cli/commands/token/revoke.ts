import { Command, Option } from 'clipanion';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';

export default class TokenRevokeCommand extends RemoteCommand {
  static override paths = [['token', 'revoke']];
  static override usage = Command.Usage({
    category: 'Tokens',
    description: 'revoke a token by its id (tok_…)',
    examples: [['Revoke', 'keyward token revoke tok_0123456789abcdef']],
  });

  id = Option.String({ required: true });

  async run(): Promise<number> {
    const r = done(await this.client().delete('/v1/auth/tokens/{id}', { params: { path: { id: this.id } } }));
    this.print(r, `Revoked ${r.tokenId}.`);
    return 0;
  }
}
