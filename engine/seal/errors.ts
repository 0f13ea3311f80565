/**
 * The one SEALED error: what every part of the sealed core throws when it needs the root key and the
 * server is sealed (docs/architecture.md, "Keys at rest").
 * @module
 */
import { KeywardError } from '../../lib/errors.js';

/** `SEALED`; `hint` replaces the default advice (unseal with a quorum of shards). */
export function sealedError(hint = 'unseal it with a quorum of shards first'): KeywardError<'SEALED'> {
  return new KeywardError('SEALED', `keyward is sealed: ${hint}`);
}
