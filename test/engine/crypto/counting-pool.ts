/** A CryptoPool that records which of its calls ran, to show where the executor sent each call. */
import { CryptoPool } from '../../../engine/crypto/pool.js';

export class CountingPool extends CryptoPool {
  readonly calls: string[] = [];
  override generateKey(...a: Parameters<CryptoPool['generateKey']>) {
    this.calls.push(`generateKey:${a[0]}`);
    return super.generateKey(...a);
  }
  override sign(...a: Parameters<CryptoPool['sign']>) {
    this.calls.push(`sign:${a[0]}`);
    return super.sign(...a);
  }
  override verify(...a: Parameters<CryptoPool['verify']>) {
    this.calls.push(`verify:${a[0]}`);
    return super.verify(...a);
  }
  override decrypt(...a: Parameters<CryptoPool['decrypt']>) {
    this.calls.push(`decrypt:${a[0]}`);
    return super.decrypt(...a);
  }
  override expand(...a: Parameters<CryptoPool['expand']>) {
    this.calls.push(`expand:${a[0]}`);
    return super.expand(...a);
  }
  override decapsulate(...a: Parameters<CryptoPool['decapsulate']>) {
    this.calls.push(`decapsulate:${a[0]}`);
    return super.decapsulate(...a);
  }
  override encapsulate(...a: Parameters<CryptoPool['encapsulate']>) {
    this.calls.push(`encapsulate:${a[0]}`);
    return super.encapsulate(...a);
  }
}
