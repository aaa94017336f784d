import { InvalidArgumentError } from 'commander';

/**
 * Parsers for command-line option values. Each throws commander's `InvalidArgumentError`,
 * which commander reports with the option's name (`option '--count <n>' argument '-1' is
 * invalid. ...`) before anything runs, so a mistyped flag never reaches a broker.
 */

/** A whole number of at least `min`. */
export function integerAtLeast(min: number): (text: string) => number {
  return integerBetween(min, Number.POSITIVE_INFINITY);
}

/** A whole number from `min` to `max`. */
export function integerBetween(min: number, max: number): (text: string) => number {
  const allowed = max === Number.POSITIVE_INFINITY ? `of at least ${min}` : `from ${min} to ${max}`;
  return (text) => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`Expected a whole number ${allowed}.`);
    }
    return value;
  };
}

/** A finite number of at least `min`. */
export function numberAtLeast(min: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || value < min) {
      throw new InvalidArgumentError(`Expected a number of at least ${min}.`);
    }
    return value;
  };
}

/** A range written `low,high` with finite numbers and `low <= high`. */
export function range(text: string): [number, number] {
  const parts = text.split(',').map((part) => part.trim());
  const [low, high] = parts.map(Number);
  const isValid =
    parts.length === 2 &&
    parts.every((part) => part !== '') &&
    Number.isFinite(low) &&
    Number.isFinite(high) &&
    (low as number) <= (high as number);
  if (!isValid) {
    throw new InvalidArgumentError('Expected a range written low,high with low <= high.');
  }
  return [low as number, high as number];
}

/** Classes written `0,1,2` (Fashion-MNIST classes are 0 to 9), distinct. */
export function classList(text: string): number[] {
  const classes = text.split(',').map((part) => Number(part.trim()));
  const isValid =
    classes.every((cls) => Number.isInteger(cls) && cls >= 0 && cls <= 9) &&
    new Set(classes).size === classes.length;
  if (!isValid) {
    throw new InvalidArgumentError('Expected distinct classes from 0 to 9, comma-separated.');
  }
  return classes;
}

/** Commander's collector for a repeatable option: each use adds one value. */
export function collect<T>(parse: (text: string) => T): (text: string, previous?: T[]) => T[] {
  return (text, previous = []) => [...previous, parse(text)];
}
