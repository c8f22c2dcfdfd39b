// proxy-from-env ships no types; this is the one function we use.
declare module 'proxy-from-env' {
  export function getProxyForUrl(url: string): string;
}
