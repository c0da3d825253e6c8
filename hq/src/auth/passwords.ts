/** Passwords: argon2id hashes only, and the random passwords HQ hands out for new users and resets. */
import { randomInt } from 'node:crypto';
import { hash, verify, type Algorithm } from '@node-rs/argon2';

/** argon2id (the library's const enum cannot be named under isolatedModules). */
const ARGON2ID = 2 as Algorithm;

/** OWASP's argon2id baseline: 19 MiB, two passes, one lane. */
const HASH_OPTIONS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export const MIN_PASSWORD_LENGTH = 12;
/** Hashing a megabyte-long "password" is work an attacker should not get for free. */
export const MAX_PASSWORD_LENGTH = 256;

export function hashPassword(password: string): Promise<string> {
  return hash(password, HASH_OPTIONS);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    // A damaged hash in the database refuses the sign-in rather than failing the request.
    return false;
  }
}

/** Letters and digits that cannot be mistaken for one another when read out or copied by hand. */
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
const GENERATED_LENGTH = 20; // about 116 bits

export function generatePassword(): string {
  let password = '';
  for (let i = 0; i < GENERATED_LENGTH; i += 1) password += ALPHABET[randomInt(ALPHABET.length)];
  return password;
}

let dummy: Promise<string> | null = null;
/**
 * A hash of a password nobody knows: an unknown user's sign-in is checked against it, so it takes
 * as long as a wrong password and the answer time does not tell which names exist.
 */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(generatePassword());
  return dummy;
}
