/**
 * Certificates made with openssl in one directory, as a chain's HQ issues them: a CA, the broker's
 * certificate for 127.0.0.1, client certificates, and certificates valid between given dates (an
 * expired one). Every certificate goes through `openssl ca`, which can set dates in the past.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** A certificate file and its private key file (PEM). */
export interface CertificateFiles {
  cert: string;
  key: string;
}

/** How long a certificate is valid: for some days from now, or from one date until another. */
export type Validity = { days: number } | { from: Date; until: Date };

/** openssl's time format: 20200201000000Z. */
const opensslTime = (date: Date) =>
  date
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\.\d+Z$/, 'Z');

export class TestPki {
  private readonly db: string;

  /**
   * `dir` is opened to everyone, as are the keys made in it: mosquitto drops to its own user and
   * must read its files.
   */
  constructor(readonly dir: string) {
    chmodSync(dir, 0o755);
    this.db = path.join(dir, 'ca-db');
    mkdirSync(this.db);
    writeFileSync(path.join(this.db, 'index.txt'), '');
    writeFileSync(path.join(this.db, 'serial'), '1000\n');
    // A renewal certifies a subject again: the database must not refuse it.
    writeFileSync(path.join(this.db, 'index.txt.attr'), 'unique_subject = no\n');
    writeFileSync(
      path.join(this.db, 'ca.cnf'),
      `[ca]\ndefault_ca = test\n[test]\ndatabase = ${this.db}/index.txt\nserial = ${this.db}/serial\n` +
        `new_certs_dir = ${this.db}\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n`,
    );
  }

  /** A self-signed certificate that may sign others: a chain's CA, or a certificate on its own. */
  selfSigned(name: string, subject: string, validity: Validity): CertificateFiles {
    const key = this.newKey(name);
    return this.sign(name, subject, key, validity, 'basicConstraints = critical, CA:true\n', null);
  }

  /** The broker's certificate for 127.0.0.1, signed by `ca`. */
  server(name: string, ca: CertificateFiles, validity: Validity): CertificateFiles {
    const key = this.newKey(name);
    return this.sign(
      name,
      '/CN=127.0.0.1',
      key,
      validity,
      'subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n',
      ca,
    );
  }

  /**
   * A store's client certificate for `commonName`, signed by `ca`; for `sameKeyAs` (a certificate
   * made before) its key is certified again, as a renewal does.
   */
  client(
    name: string,
    ca: CertificateFiles,
    commonName: string,
    validity: Validity,
    sameKeyAs?: CertificateFiles,
  ): CertificateFiles {
    const key = sameKeyAs?.key ?? this.newKey(name);
    return this.sign(name, `/CN=${commonName}`, key, validity, 'extendedKeyUsage = clientAuth\n', ca);
  }

  private openssl(...args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: 'pipe' });
  }

  private newKey(name: string): string {
    const key = path.join(this.dir, `${name}.key`);
    this.openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key);
    chmodSync(key, 0o644);
    return key;
  }

  /** Certifies `key` as `subject`: by `issuer`, or by the key itself (null). */
  private sign(
    name: string,
    subject: string,
    key: string,
    validity: Validity,
    extensions: string,
    issuer: CertificateFiles | null,
  ): CertificateFiles {
    const request = path.join(this.db, `${name}.csr`);
    const extensionsFile = path.join(this.db, `${name}.ext`);
    const cert = path.join(this.dir, `${name}.crt`);
    this.openssl('req', '-new', '-key', key, '-subj', subject, '-out', request);
    writeFileSync(extensionsFile, extensions);
    const dates =
      'days' in validity
        ? ['-days', String(validity.days)]
        : ['-startdate', opensslTime(validity.from), '-enddate', opensslTime(validity.until)];
    const signer = issuer ? ['-cert', issuer.cert, '-keyfile', issuer.key] : ['-selfsign', '-keyfile', key];
    this.openssl(
      'ca',
      '-batch',
      '-notext',
      '-config',
      path.join(this.db, 'ca.cnf'),
      ...signer,
      '-in',
      request,
      '-extfile',
      extensionsFile,
      ...dates,
      '-out',
      cert,
    );
    return { cert, key };
  }
}
