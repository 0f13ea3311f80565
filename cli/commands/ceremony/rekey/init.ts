import { Command, Option } from 'clipanion';
import { RemoteCommand, wholeNumber } from '../../../base.js';
import { done } from '../../../http.js';
import { loadHolderPublicKeys } from '../shared.js';

export default class CeremonyRekeyInitCommand extends RemoteCommand {
  static override paths = [['ceremony', 'rekey', 'init']];
  static override usage = Command.Usage({
    category: 'Ceremony',
    description: 'start a rekey to new holders and threshold (needs a quorum of current shards)',
    details: `
      Authenticated. The current holders then run \`keyward ceremony rekey submit\`; when enough have, the server splits a new unseal key to the new holders and old shards stop working. Data is not re-encrypted.
    `,
    examples: [
      ['Rekey to a 2-of-2 set', 'keyward ceremony rekey init --holders dave.key.pub,erin.key.pub --threshold 2'],
    ],
  });

  holders = Option.String('--holders', {
    required: true,
    description: 'Comma-separated public key files of the new holders',
  });
  threshold = Option.String('--threshold', {
    required: true,
    description: 'New threshold (1..N)',
    validator: wholeNumber(1),
  });

  async run(): Promise<number> {
    const threshold = this.threshold;
    const res = done(
      await this.client().post('/v1/sys/rekey/init', {
        body: { holders: await loadHolderPublicKeys(this.holders), threshold },
      }),
    );
    this.print(
      res,
      `Rekey started: ${res.required} current shards needed; new set ${res.newThreshold} of ${res.newShares}. Holders run \`keyward ceremony rekey submit\`.`,
    );
    return 0;
  }
}
