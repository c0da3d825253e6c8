/** The one pattern for a date a person types (birthdays, coupon validity, report ranges, segments). */

/** A store-local date, years 1900-2099 (date arithmetic beyond 9999 would leave the YYYY form). */
export const DAY_PATTERN = '^(19|20)\\d\\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$';
