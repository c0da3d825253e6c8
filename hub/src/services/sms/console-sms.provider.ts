/**
 * The embedded default: no SMS leaves the store; each message is written to the hub's log instead,
 * with the number masked (+886******678) and any personal data in the text masked too. Always ok.
 */
import type { Logger } from 'pino';
import { maskPhone } from '../../domain/phone.js';
import type { SmsProvider, SmsSendContext, SmsSendResult } from './sms-provider.js';

export class ConsoleSmsProvider implements SmsProvider {
  readonly name = 'console';

  constructor(private readonly log: Logger) {}

  send(to: string, text: string, context?: SmsSendContext): Promise<SmsSendResult> {
    this.log.info(
      {
        provider: this.name,
        messageId: context?.messageId,
        to: maskPhone(to),
        chars: [...text].length,
        text: maskPersonal(text, context?.personal ?? []),
      },
      'sms (console provider: not sent)',
    );
    return Promise.resolve({ kind: 'ok' });
  }
}

/** Each personal string keeps its first character: 王小明 -> 王**. */
export function maskPersonal(text: string, personal: string[]): string {
  let out = text;
  for (const value of personal) {
    const chars = [...value.trim()];
    if (chars.length === 0) continue;
    out = out.split(value.trim()).join(chars[0] + '*'.repeat(Math.max(1, chars.length - 1)));
  }
  return out;
}
