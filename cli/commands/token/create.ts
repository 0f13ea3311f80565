import { Command, Option } from 'clipanion';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';

export default class TokenCreateCommand extends RemoteCommand {
  static override paths = [['token', 'create']];
  static override usage = Command.Usage({
    category: 'Tokens',
    description: 'create a bearer token for a principal with roles (shown once)',
    details: 'Roles of the default policy: admin, operator, app, auditor. Custom policies may use other role names.',
    examples: [['An application token for a day', 'keyward token create --principal billing-svc --role app --ttl 24h']],
  });

  principal = Option.String('--principal', { required: true, description: 'Who the token acts as' });
  roles = Option.Array('--role', { required: true, description: 'A role (repeat for several)' });
  ttl = Option.String('--ttl', '24h', { description: 'Lifetime: seconds or 90s, 15m, 24h, 7d (at most 365d)' });

  async run(): Promise<number> {
    const ttl = /^\d+$/.test(this.ttl) ? Number(this.ttl) : this.ttl;
    const t = done(
      await this.client().post('/v1/auth/tokens', { body: { principal: this.principal, roles: this.roles, ttl } }),
    );
    this.print(
      t,
      `Token (shown once): ${t.token}\nid ${t.tokenId}, principal ${t.principal} (${t.roles.join(', ')}), expires ${t.expiresAt ?? 'never'}`,
    );
    return 0;
  }
}
