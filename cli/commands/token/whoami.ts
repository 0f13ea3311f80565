import { Command } from 'clipanion';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';

export default class TokenWhoamiCommand extends RemoteCommand {
  static override paths = [['token', 'whoami']];
  static override usage = Command.Usage({
    category: 'Tokens',
    description: 'show the principal and roles of the current token',
    examples: [['Who am I', 'keyward token whoami']],
  });

  async run(): Promise<number> {
    const w = done(await this.client().get('/v1/auth/whoami'));
    this.print(w, `${w.principal} (${w.roles.join(', ')}), token ${w.tokenId}, expires ${w.expiresAt ?? 'never'}`);
    return 0;
  }
}
