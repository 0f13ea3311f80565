/**
 * The data-plane commands: `keyward encrypt|decrypt|rewrap|datakey|sign|verify|hmac|encapsulate|
 * decapsulate --key NAME`, input from `--in FILE` (`-` for stdin) or `--text`. Thin wrappers over
 * POST /v1/keys/:name/<op>.
 * @module
 */
import { Command, Option, UsageError } from 'clipanion';
import { BaseCommand } from '../base.js';
import { toBase64 as b64 } from '../../ceremony/index.js';
import { readInput } from '../input.js';

abstract class KeyOpCommand extends BaseCommand {
  key = Option.String('--key', { required: true, description: 'Key name' });

  call<T>(op: string, body: unknown): Promise<T> {
    return this.client().post<T>(`/v1/keys/${encodeURIComponent(this.key)}/${op}`, body);
  }
}

abstract class InputOpCommand extends KeyOpCommand {
  in = Option.String('--in', { description: 'Read the input from FILE (- for stdin)' });
  text = Option.String('--text', { description: 'The input as a string' });

  input(what: string): Promise<Uint8Array> {
    return readInput({ in: this.in, text: this.text, what, stdin: this.context.stdin });
  }

  async inputText(what: string): Promise<string> {
    return new TextDecoder().decode(await this.input(what)).trim();
  }
}

const aadOption = () => Option.String('--aad-text', { description: 'Associated data / encryption context (bound, not stored)' });
const aad = (text: string | undefined) => (text === undefined ? {} : { aad: b64(new TextEncoder().encode(text)) });

export class EncryptCommand extends InputOpCommand {
  static override paths = [['encrypt']];
  static override usage = Command.Usage({ category: 'Data', description: 'encrypt with a key; prints kw:v<N>:… ', examples: [['Encrypt a file', 'keyward encrypt --key orders --in secret.txt']] });
  aadText = aadOption();
  async run(): Promise<number> {
    const r = await this.call<{ ciphertext: string; keyVersion: number }>('encrypt', { plaintext: b64(await this.input('plaintext')), ...aad(this.aadText) });
    this.print(r, r.ciphertext);
    return 0;
  }
}

export class DecryptCommand extends InputOpCommand {
  static override paths = [['decrypt']];
  static override usage = Command.Usage({
    category: 'Data',
    description: 'decrypt a kw:v<N>:… ciphertext (or a base64 RSA-OAEP one for RSA keys); writes the plaintext bytes',
    examples: [
      ['Decrypt', 'keyward decrypt --key orders --text kw:v1:…'],
      ['RSA-OAEP-SHA-256 made with the exported public key', 'openssl pkeyutl -encrypt -pubin -inkey pub.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in m.txt | base64 -w0 | keyward decrypt --key rsa --in -'],
    ],
  });
  aadText = aadOption();
  keyVersion = Option.String('--key-version', { description: 'RSA keys: the key version a raw ciphertext was made for (default: the latest)' });
  async run(): Promise<number> {
    if (this.keyVersion !== undefined && !/^[1-9]\d{0,9}$/.test(this.keyVersion)) throw new UsageError(`--key-version expects a positive whole number, got "${this.keyVersion}"`);
    const version = this.keyVersion === undefined ? {} : { keyVersion: Number(this.keyVersion) };
    const r = await this.call<{ plaintext: string }>('decrypt', { ciphertext: await this.inputText('ciphertext'), ...aad(this.aadText), ...version });
    if (this.json) this.print(r, '');
    else this.context.stdout.write(Buffer.from(r.plaintext, 'base64'));
    return 0;
  }
}

export class RewrapCommand extends InputOpCommand {
  static override paths = [['rewrap']];
  static override usage = Command.Usage({ category: 'Data', description: 're-encrypt a ciphertext under the latest key version', examples: [['Rewrap', 'keyward rewrap --key orders --text kw:v1:…']] });
  aadText = aadOption();
  async run(): Promise<number> {
    const r = await this.call<{ ciphertext: string; keyVersion: number }>('rewrap', { ciphertext: await this.inputText('ciphertext'), ...aad(this.aadText) });
    this.print(r, r.ciphertext);
    return 0;
  }
}

export class DatakeyCommand extends KeyOpCommand {
  static override paths = [['datakey']];
  static override usage = Command.Usage({ category: 'Data', description: 'a random data key (base64) and its ciphertext under the key', examples: [['A 32-byte data key', 'keyward datakey --key orders --json']] });
  bytes = Option.String('--bytes', '32', { description: 'Length, 1..1024' });
  async run(): Promise<number> {
    if (!/^\d+$/.test(this.bytes)) throw new UsageError(`--bytes expects a whole number, got "${this.bytes}"`);
    const r = await this.call<{ plaintext: string; ciphertext: string }>('datakey', { bytes: Number(this.bytes) });
    this.print(r, `plaintext  ${r.plaintext}\nciphertext ${r.ciphertext}`);
    return 0;
  }
}

const encodingOption = () => Option.String('--encoding', { description: 'ECDSA signature encoding: der (default) or p1363' });
const contextOption = () => Option.String('--context-text', { description: 'FIPS 204/205 context string (ML-DSA, SLH-DSA)' });
const signOpts = (encoding: string | undefined, context: string | undefined) => ({
  ...(encoding ? { encoding } : {}),
  ...(context !== undefined ? { context: b64(new TextEncoder().encode(context)) } : {}),
});

export class SignCommand extends InputOpCommand {
  static override paths = [['sign']];
  static override usage = Command.Usage({ category: 'Data', description: 'sign a message; prints kw:v<N>:…', examples: [['Sign a file', 'keyward sign --key release --in artifact.tar']] });
  encoding = encodingOption();
  contextText = contextOption();
  async run(): Promise<number> {
    const r = await this.call<{ signature: string }>('sign', { message: b64(await this.input('message')), ...signOpts(this.encoding, this.contextText) });
    this.print(r, r.signature);
    return 0;
  }
}

export class VerifyCommand extends InputOpCommand {
  static override paths = [['verify']];
  static override usage = Command.Usage({ category: 'Data', description: 'verify a signature; exits 0 if valid, 1 if not', examples: [['Verify', 'keyward verify --key release --in artifact.tar --signature kw:v1:…']] });
  signature = Option.String('--signature', { required: true, description: 'The kw:v<N>:… signature' });
  encoding = encodingOption();
  contextText = contextOption();
  async run(): Promise<number> {
    const r = await this.call<{ valid: boolean }>('verify', { message: b64(await this.input('message')), signature: this.signature, ...signOpts(this.encoding, this.contextText) });
    this.print(r, r.valid ? 'valid' : 'invalid');
    return r.valid ? 0 : 1;
  }
}

export class HmacCommand extends InputOpCommand {
  static override paths = [['hmac']];
  static override usage = Command.Usage({ category: 'Data', description: 'HMAC-SHA256 of a message; prints kw:v<N>:…', examples: [['HMAC', 'keyward hmac --key tags --text hello']] });
  async run(): Promise<number> {
    const r = await this.call<{ hmac: string }>('hmac', { message: b64(await this.input('message')) });
    this.print(r, r.hmac);
    return 0;
  }
}

export class EncapsulateCommand extends KeyOpCommand {
  static override paths = [['encapsulate']];
  static override usage = Command.Usage({ category: 'Data', description: 'KEM encapsulation to a key: a ciphertext and a shared secret (base64)', examples: [['Encapsulate', 'keyward encapsulate --key kem --json']] });
  async run(): Promise<number> {
    const r = await this.call<{ ciphertext: string; sharedSecret: string }>('encapsulate', {});
    this.print(r, `ciphertext    ${r.ciphertext}\nsharedSecret  ${r.sharedSecret}`);
    return 0;
  }
}

export class DecapsulateCommand extends InputOpCommand {
  static override paths = [['decapsulate']];
  static override usage = Command.Usage({ category: 'Data', description: 'KEM decapsulation of a base64 ciphertext; prints the shared secret', examples: [['Decapsulate', 'keyward decapsulate --key kem --text <base64>']] });
  async run(): Promise<number> {
    const r = await this.call<{ sharedSecret: string }>('decapsulate', { ciphertext: await this.inputText('ciphertext') });
    this.print(r, r.sharedSecret);
    return 0;
  }
}

export const OP_COMMANDS = [EncryptCommand, DecryptCommand, RewrapCommand, DatakeyCommand, SignCommand, VerifyCommand, HmacCommand, EncapsulateCommand, DecapsulateCommand];
