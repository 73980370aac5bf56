/**
 * Lookups by keys that come from outside (channel namespaces, role names, event names):
 * plain `record[key]` would answer inherited members such as `constructor` or `__proto__`.
 */
export function ownValue<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

export function hasOwnKey(record: object, key: string): boolean {
  return Object.hasOwn(record, key);
}
