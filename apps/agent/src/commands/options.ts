import { CliError } from '../errors';

/**
 * A numeric flag's value, or undefined when it was not given; anything else than a number from `min` to `max`
 * (a whole one where `integer`) stops the command as a usage error naming the flag.
 */
export function parseNumberOption(value: string | undefined, flag: string, min: number, max: number, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new CliError(`${flag} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, not "${value}"`, 2);
  }
  return n;
}
