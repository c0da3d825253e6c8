/**
 * Where SMS go out: a provider sends one text to one number and says how it went. Providers never
 * throw for a failed send; they answer with an outcome whose `error` is a short code (`http_503`,
 * `timeout`, `network:ECONNREFUSED`) that never contains the number or the text, because it is
 * written to the journal, the logs and the UI.
 */
import type { Logger } from 'pino';
import type { SendOutcome } from '../../domain/message-outbox.js';
import type { HubConfig } from '../../config/config.js';
import { ConsoleSmsProvider } from './console-sms.provider.js';
import { HttpSmsProvider, parseAuthHeader } from './http-sms.provider.js';

/** ok, retryable (network, timeout, 408, 429, 5xx) or permanent (other 4xx) */
export type SmsSendResult = SendOutcome;

export interface SmsSendContext {
  /** The queued message's id: the same on every retry (a provider may use it to drop duplicates). */
  messageId: string;
  /** Personal data inside `text` (e.g. the member's name) that must never be logged. */
  personal: string[];
}

export interface SmsProvider {
  readonly name: string;
  /** `to` is E.164 (+886912345678). */
  send(to: string, text: string, context?: SmsSendContext): Promise<SmsSendResult>;
}

/** The provider the configuration asks for. */
export function createSmsProvider(
  config: Pick<
    HubConfig,
    'smsProvider' | 'smsHttpUrl' | 'smsHttpAuthHeader' | 'smsHttpBodyTemplate' | 'smsHttpTimeoutMs'
  >,
  log: Logger,
): SmsProvider {
  if (config.smsProvider === 'http') {
    if (!config.smsHttpUrl) throw new Error('smsProvider "http" needs smsHttpUrl (AYI_SMS_HTTP_URL)');
    return new HttpSmsProvider({
      url: config.smsHttpUrl,
      authHeader: config.smsHttpAuthHeader ? parseAuthHeader(config.smsHttpAuthHeader) : null,
      bodyTemplate: config.smsHttpBodyTemplate,
      timeoutMs: config.smsHttpTimeoutMs,
    });
  }
  return new ConsoleSmsProvider(log);
}
