/** Store-local calendar helpers. Pure: the instant is always passed in. */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** The store-local date (YYYY-MM-DD) of an instant: a sale at 00:30 in Taipei belongs to that day. */
export function businessDate(at: Date, timeZone: string): string {
  return formatterFor(timeZone).format(at);
}

/** The date `days` days before a YYYY-MM-DD date. */
export function daysBefore(date: string, days: number): string {
  const t = Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10)));
  return new Date(t - days * 86_400_000).toISOString().slice(0, 10);
}
